//! Administration: accounts (roles, suspension that bites at once on every
//! node), support views, stats, and the append-only audit log. Every change is
//! recorded with its audit entry in one transaction; every support read is
//! recorded too.
//!
//! One file per seam: `accounts` (changing accounts, also for operator commands),
//! `support` (reading a user's account, projects and jobs; stopping a job),
//! `stats`.

mod accounts;
mod stats;
mod support;

use std::sync::Arc;

use devora_domain::admin::{AdminRefusal, AuditActor};
use devora_ports::admin::{AdminStore, AuditContext};
use devora_ports::{Clock, StorageError};

pub use support::UserDetail;

use crate::InternalError;
use crate::auth::AuthService;
use crate::billing::BillingService;
use crate::generation::GenerationService;
use crate::projects::ProjectService;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such user")]
    UserNotFound,
    #[error("no such job")]
    JobNotFound,
    #[error("refused: {0:?}")]
    Refused(AdminRefusal),
    #[error(transparent)]
    Billing(#[from] crate::billing::BillingError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StorageError> for AdminError {
    fn from(err: StorageError) -> Self {
        Self::Internal(err.into())
    }
}

/// The services administration reads and acts through.
#[derive(Clone)]
pub struct AdminPorts {
    pub store: Arc<dyn AdminStore>,
    pub auth: AuthService,
    pub billing: BillingService,
    pub generation: GenerationService,
    pub projects: ProjectService,
    pub clock: Arc<dyn Clock>,
}

/// Who is acting and from where, as the HTTP layer or a command knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub who: AuditActor,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// An operator command on the server.
    #[must_use]
    pub fn cli() -> Self {
        Self { who: AuditActor::Cli, ip: None, request_id: None }
    }
}

#[derive(Clone)]
pub struct AdminService {
    ports: AdminPorts,
    stats: Arc<stats::StatsCache>,
}

impl AdminService {
    #[must_use]
    pub fn new(ports: AdminPorts) -> Self {
        Self { ports, stats: Arc::default() }
    }

    fn context(&self, actor: &Actor) -> AuditContext {
        AuditContext {
            actor: actor.who,
            ip: actor.ip.clone(),
            request_id: actor.request_id.clone(),
            now: self.ports.clock.now(),
        }
    }
}
