//! `devora-server`: serves the API, or runs an operator command.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: faster on the request path than glibc's allocator, and it returns
/// freed memory to the system (glibc kept the Argon2 buffers of every hashing
/// thread: 800 MB after a login flood). Its defaults commit arenas up front and
/// return pages after a delay; the container sets `MIMALLOC_ARENA_EAGER_COMMIT=0`
/// and `MIMALLOC_PURGE_DELAY=0` to keep the resident set small (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Devora API v2 server. With no command it serves.
#[derive(Debug, Parser)]
#[command(
    name = "devora-server",
    version,
    about = "The Devora API v2 server",
    after_help = "Configuration is by environment variables: see .env.example and the README's configuration table."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default), until SIGTERM or SIGINT.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an administrator with a password, or promote the account with this email.
    CreateAdmin {
        /// The administrator's email.
        #[arg(long)]
        email: String,
        /// Their password (8..128 characters, not a common one).
        #[arg(long)]
        password: String,
        /// Their display name; the email's local part when omitted.
        #[arg(long)]
        name: Option<String>,
    },
    /// Write the OpenAPI 3.1 document (YAML) to FILE, or to standard output.
    ExportOpenapi {
        /// Where to write it.
        file: Option<PathBuf>,
    },
    /// Write the TypeScript declarations of the API's types into DIR.
    ExportTypes {
        /// The directory (created if missing).
        dir: PathBuf,
    },
    /// Exit 0 if this host's /health/live answers 200 (a container probe; reads PORT).
    Healthcheck,
    /// Billing operations.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Generation jobs, for operators.
    #[command(subcommand)]
    Jobs(JobsCommand),
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs of every user, newest first, one JSON object a line.
    List {
        /// Only jobs with this status (queued, running, succeeded, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// At most this many (1..100).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Stop a job: a queued one at once, a running one on whichever node runs it.
    Cancel {
        /// The job's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum BillingCommand {
    /// Compare every subscription at Stripe with local state and repair drift; prints the report as JSON.
    Reconcile,
}

fn main() -> ExitCode {
    // Unknown commands or arguments print usage and exit 2 (clap's convention).
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => commands::with_runtime(commands::serve()),
        Command::Migrate => commands::with_runtime(commands::migrate()),
        Command::CreateAdmin { email, password, name } => {
            commands::with_runtime(commands::create_admin(&email, &password, name.as_deref()))
        }
        Command::ExportOpenapi { file } => commands::export_openapi(file.as_deref()),
        Command::ExportTypes { dir } => commands::export_types(&dir),
        Command::Healthcheck => commands::healthcheck(),
        Command::Billing(BillingCommand::Reconcile) => commands::with_runtime(commands::billing_reconcile()),
        Command::Jobs(JobsCommand::List { status, limit }) => {
            commands::with_runtime(commands::jobs_list(status.as_deref(), limit))
        }
        Command::Jobs(JobsCommand::Cancel { id }) => commands::with_runtime(commands::jobs_cancel(&id)),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_serves_and_unknown_arguments_are_usage_errors() {
        assert!(Cli::try_parse_from(["devora-server"]).unwrap().command.is_none());
        let err = Cli::try_parse_from(["devora-server", "frobnicate"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["devora-server", "migrate", "--force"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["devora-server", "create-admin", "--email", "a@b.co"]).unwrap_err();
        assert_eq!(err.exit_code(), 2, "--password is required");
        let parsed = Cli::try_parse_from(["devora-server", "billing", "reconcile"]).unwrap();
        assert!(matches!(parsed.command, Some(Command::Billing(BillingCommand::Reconcile))));
        assert_eq!(Cli::try_parse_from(["devora-server", "billing"]).unwrap_err().exit_code(), 2);
        let parsed = Cli::try_parse_from(["devora-server", "jobs", "list", "--status", "running"]).unwrap();
        assert!(matches!(parsed.command, Some(Command::Jobs(JobsCommand::List { status: Some(_), limit: 50 }))));
        assert!(matches!(
            Cli::try_parse_from(["devora-server", "jobs", "cancel", "x"]).unwrap().command,
            Some(Command::Jobs(JobsCommand::Cancel { .. }))
        ));
        assert_eq!(Cli::try_parse_from(["devora-server", "jobs", "cancel"]).unwrap_err().exit_code(), 2);
        let parsed = Cli::try_parse_from(["devora-server", "export-openapi", "docs/openapi.yaml"]).unwrap();
        assert!(matches!(parsed.command, Some(Command::ExportOpenapi { file: Some(_) })));
    }
}
