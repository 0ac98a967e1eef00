//! Users: accounts, their credentials and roles.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{Email, Role, User, UserId, UserName, UserStatus};
use devora_ports::{CreateUserError, NewUser, StorageError, UserRepository};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::user_from_row;
use crate::Database;
use crate::entity::users;
use crate::errors::{storage, unique_violation};

#[async_trait]
impl UserRepository for Database {
    async fn create(&self, user: NewUser) -> Result<User, CreateUserError> {
        let row = users::ActiveModel {
            id: Set(user.id.as_uuid()),
            email: Set(user.email.as_str().to_owned()),
            name: Set(user.name.as_str().to_owned()),
            password_hash: Set(user.password_hash),
            role: Set(user.role.as_str().to_owned()),
            status: Set(UserStatus::Active.as_str().to_owned()),
            email_verified: Set(user.email_verified),
            created_at: Set(user.now),
            updated_at: Set(user.now),
        };
        match row.insert(self.connection()).await {
            Ok(row) => Ok(user_from_row(row)?),
            Err(err) if unique_violation(&err) => Err(CreateUserError::DuplicateEmail),
            Err(err) => Err(CreateUserError::Storage(storage(err))),
        }
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StorageError> {
        users::Entity::find_by_id(id.as_uuid())
            .one(self.connection())
            .await
            .map_err(storage)?
            .map(user_from_row)
            .transpose()
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StorageError> {
        users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(self.connection())
            .await
            .map_err(storage)?
            .map(user_from_row)
            .transpose()
    }

    async fn find_credentials(&self, email: &Email) -> Result<Option<(User, Option<String>)>, StorageError> {
        let Some(row) = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(self.connection())
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let hash = row.password_hash.clone();
        Ok(Some((user_from_row(row)?, hash)))
    }

    async fn set_role(&self, id: UserId, role: Role, now: DateTime<Utc>) -> Result<(), StorageError> {
        users::Entity::update_many()
            .col_expr(users::Column::Role, Expr::value(role.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn set_status(&self, id: UserId, status: UserStatus, now: DateTime<Utc>) -> Result<bool, StorageError> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::Status, Expr::value(status.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<String>, StorageError> {
        Ok(users::Entity::find_by_id(id.as_uuid())
            .one(self.connection())
            .await
            .map_err(storage)?
            .and_then(|u| u.password_hash))
    }

    async fn update_name(&self, id: UserId, name: &UserName, now: DateTime<Utc>) -> Result<Option<User>, StorageError> {
        users::Entity::update_many()
            .col_expr(users::Column::Name, Expr::value(name.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        self.find_by_id(id).await
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let result = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(Some(hash.to_owned())))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .filter(users::Column::PasswordHash.eq(expected))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(result.rows_affected == 1)
    }

    async fn set_password_hash(&self, id: UserId, hash: Option<&str>, now: DateTime<Utc>) -> Result<(), StorageError> {
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(hash.map(str::to_owned)))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn mark_email_verified(&self, id: UserId, now: DateTime<Utc>) -> Result<(), StorageError> {
        users::Entity::update_many()
            .col_expr(users::Column::EmailVerified, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        Ok(())
    }
}
