//! Accounts: users, sessions with their refresh-token families, and the state of
//! OAuth sign-ins (pending sign-ins, login codes, linked identities).

mod sessions;
mod sign_ins;
mod users;

pub(crate) use sessions::revoke_ids;

use devora_domain::{Email, Role, SessionId, User, UserId, UserName, UserStatus};
use devora_ports::{Session, StorageError};

use crate::entity::{sessions as session_rows, users as user_rows};
use crate::errors::corrupt;

pub(crate) fn user_from_row(row: user_rows::Model) -> Result<User, StorageError> {
    Ok(User {
        id: UserId::from_uuid(row.id),
        email: Email::parse(&row.email).map_err(|_| corrupt("users.email"))?,
        name: UserName::parse(&row.name).map_err(|_| corrupt("users.name"))?,
        role: Role::parse(&row.role).ok_or_else(|| corrupt("users.role"))?,
        status: UserStatus::parse(&row.status).ok_or_else(|| corrupt("users.status"))?,
        email_verified: row.email_verified,
        has_password: row.password_hash.is_some(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn session_from_row(row: session_rows::Model) -> Session {
    Session {
        id: SessionId::from_uuid(row.id),
        user_id: UserId::from_uuid(row.user_id),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        user_agent: row.user_agent,
        ip: row.ip,
    }
}
