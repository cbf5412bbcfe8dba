//! `strata server ...` and `strata login`: running a team server and reaching one.

use std::net::SocketAddr;

use clap::{Args, Subcommand};

/// Where the server keeps its records.
#[derive(Debug, Clone, Args)]
pub(crate) struct DatabaseArg {
    /// The PostgreSQL database (`postgres://USER@HOST/DB`; a password belongs in `PGPASSWORD`
    /// or `~/.pgpass`, not in the URL).
    #[arg(
        long,
        env = "STRATA_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(crate) database: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ServerCommand {
    /// Bring the database schema up to date (safe to run from several hosts at once).
    #[command(
        after_help = "Example:\n  strata server migrate --database postgres://strata@db/strata"
    )]
    Migrate {
        #[command(flatten)]
        database: DatabaseArg,
        /// Only say which migrations are pending.
        #[arg(long)]
        dry_run: bool,
    },
    /// Serve the REST API (Ctrl-C or SIGTERM stops it gracefully).
    #[command(
        after_help = "Example:\n  strata server run --database postgres://strata@db/strata --blobs s3://bucket/strata --listen 127.0.0.1:8080"
    )]
    Run {
        #[command(flatten)]
        database: DatabaseArg,
        /// Where blobs go: `file:///DIR` or `s3://BUCKET[/PREFIX]` (with the standard `AWS_*`
        /// variables: `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
        /// `AWS_REGION`, `AWS_ALLOW_HTTP=true` for plain HTTP).
        #[arg(long, env = "STRATA_BLOBS_URL", value_name = "URL")]
        blobs: String,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Create and list workspaces.
    #[command(subcommand)]
    Workspace(ServerWorkspaceCommand),
    /// Create, list and revoke access tokens.
    #[command(subcommand)]
    Token(ServerTokenCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ServerWorkspaceCommand {
    /// Create a workspace.
    #[command(after_help = "Example:\n  strata server workspace create team")]
    Create {
        name: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List the workspaces.
    #[command(
        after_help = "Example:\n  strata server workspace list --database postgres://strata@db/strata"
    )]
    List {
        #[command(flatten)]
        database: DatabaseArg,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ServerTokenCommand {
    /// Create a token (printed once; only its hash is stored). Makes the user, and their
    /// membership of the workspace (the global `--workspace NAME`) with the role, when new.
    #[command(
        after_help = "Examples:\n  strata server token create --user alice --workspace team --role contributor\n  strata server token create --user root --admin --expires-in 30d"
    )]
    Create {
        #[command(flatten)]
        database: DatabaseArg,
        /// Whose token it is.
        #[arg(long)]
        user: String,
        /// `reader`, `contributor` or `owner` in the workspace given with `--workspace NAME`
        /// (which the token then opens, and the user joins).
        #[arg(long, value_parser = ["reader", "contributor", "owner"])]
        role: Option<String>,
        /// A server admin token (creates workspaces and users).
        #[arg(long)]
        admin: bool,
        /// How long it stays valid (`90d`, `12h`; `never` for no expiry).
        #[arg(long, default_value = "90d")]
        expires_in: String,
        /// What the token is for.
        #[arg(long)]
        description: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List tokens: id, user, workspace, role, expiry, last use (never the tokens); only
    /// those of one workspace with `--workspace NAME`.
    #[command(after_help = "Example:\n  strata server token list --workspace team")]
    List {
        #[command(flatten)]
        database: DatabaseArg,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token at once.
    #[command(after_help = "Example:\n  strata server token revoke tok_12")]
    Revoke {
        #[command(flatten)]
        database: DatabaseArg,
        /// The token id (`strata server token list`).
        id: String,
    },
}

/// `strata login URL`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The server workspace (`http(s)://HOST[:PORT]/w/NAME`).
    pub(crate) url: String,
    /// Read the token from standard input (otherwise from `STRATA_TOKEN`).
    #[arg(long)]
    pub(crate) token_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WorkspaceCommand {
    /// Copy this embedded workspace to a server workspace: environment versions (same
    /// versions), locks, builds, finished runs with their files and jobs, models, services and
    /// (with the `owner` role) compute targets. Running it again sends only what is new.
    #[command(after_help = "Example:\n  strata workspace push http://127.0.0.1:8080/w/team")]
    Push {
        /// The server workspace (`http(s)://HOST[:PORT]/w/NAME`), reached with the token of
        /// `strata login` or `STRATA_TOKEN`.
        url: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}
