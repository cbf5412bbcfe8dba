//! `strata server ...`: migrating, running and administering a team server, and `strata
//! login`/`logout` to reach one.

use std::io::Read as _;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use serde_json::json;
use strata_store::store::{
    Actor, NewToken, Role, ServerBackends, ServerStore, TokenRecord, generate_token, token_hash,
};
use strata_store::{format_time, now_millis};
use strata_store_postgres::PostgresStore;

use crate::cli::{LoginArgs, ServerCommand, ServerTokenCommand, ServerWorkspaceCommand};
use crate::errors::UsageError;
use crate::{printer, table};

/// `--workspace` on a server command names a workspace of the server: `NAME`, or the URL of
/// one (`.../w/NAME`, as `STRATA_WORKSPACE` may hold).
fn server_workspace(workspace: Option<&std::path::Path>) -> Result<Option<String>> {
    let Some(text) = workspace.map(|p| p.to_string_lossy().into_owned()) else {
        return Ok(None);
    };
    let name = match text.split_once("/w/") {
        Some((_, rest)) if crate::commands::remote::is_url(&text) => {
            rest.trim_end_matches('/').to_string()
        }
        _ => text.clone(),
    };
    if strata_store::validate_label(&name).is_err() {
        return Err(UsageError::new(format!("`{text}` is not a server workspace name"))
            .hint("Give `--workspace NAME` (letters, digits, `-`, `_`, `.`), or its URL `http(s)://HOST/w/NAME`")
            .into());
    }
    Ok(Some(name))
}

pub(crate) fn run(command: ServerCommand, workspace: Option<&std::path::Path>) -> Result<()> {
    let workspace = match &command {
        ServerCommand::Token(_) => server_workspace(workspace)?,
        _ => None,
    };
    let runtime = crate::commands::remote::runtime()?;
    runtime.block_on(async move {
        match command {
            ServerCommand::Migrate { database, dry_run } => {
                migrate(&connect(&database.database).await?, dry_run).await
            }
            ServerCommand::Run {
                database,
                blobs,
                listen,
            } => serve(&database.database, &blobs, listen).await,
            ServerCommand::Workspace(ServerWorkspaceCommand::Create { name, database }) => {
                let store = connect(&database.database).await?;
                let created = store.create_workspace(&name, &Actor::local()).await?;
                printer::out(format!("Created workspace `{}`", created.name));
                Ok(())
            }
            ServerCommand::Workspace(ServerWorkspaceCommand::List { database, json }) => {
                let store = connect(&database.database).await?;
                let workspaces = store.list_workspaces(None).await?;
                if json {
                    printer::json(&workspaces);
                } else {
                    let rows: Vec<Vec<String>> = workspaces
                        .iter()
                        .map(|w| vec![w.name.clone(), format_time(w.created_at)])
                        .collect();
                    printer::out(table::render(&["WORKSPACE", "CREATED"], &rows));
                }
                Ok(())
            }
            ServerCommand::Token(command) => token(command, workspace).await,
        }
    })
}

async fn connect(url: &str) -> Result<PostgresStore> {
    Ok(PostgresStore::connect(url).await?)
}

async fn migrate(store: &PostgresStore, dry_run: bool) -> Result<()> {
    let (at, newest) = store.schema_status().await?;
    if at > newest {
        return Err(UsageError::new(format!(
            "The database schema is at version {at}, newer than this build of Strata knows ({newest})"
        ))
        .hint("Upgrade `strata` on this host")
        .into());
    }
    if at == newest {
        printer::out(format!("The schema is up to date (version {at})"));
        return Ok(());
    }
    if dry_run {
        printer::out(format!(
            "The schema is at version {at}; {} pending (up to version {newest})",
            printer::count(usize::try_from(newest - at).unwrap_or(0), "migration")
        ));
        return Ok(());
    }
    store.migrate().await?;
    let (now, _) = store.schema_status().await?;
    printer::out(format!("Migrated the schema from version {at} to {now}"));
    Ok(())
}

async fn serve(database: &str, blobs: &str, listen: std::net::SocketAddr) -> Result<()> {
    let store = connect(database).await?;
    let blobs = strata_server::open_blobs(blobs)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("Failed to listen on `{listen}`"))?;
    let address = listener.local_addr()?;
    printer::note(format!(
        "Serving on http://{address} (workspaces at http://{address}/w/NAME); Ctrl-C stops"
    ));
    let backends = ServerBackends {
        records: Arc::new(store),
        blobs,
    };
    strata_server::serve(
        listener,
        backends,
        strata_server::ServerOptions::default(),
        shutdown_signal(),
    )
    .await?;
    printer::note("Stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop taking requests and let the ones in flight finish.
async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

async fn token(command: ServerTokenCommand, workspace: Option<String>) -> Result<()> {
    match command {
        ServerTokenCommand::Create {
            database,
            user,
            role,
            admin,
            expires_in,
            description,
            json,
        } => {
            if role.is_some() != workspace.is_some() {
                return Err(UsageError::new("A role is a role in a workspace")
                    .hint("Give both `--workspace NAME` and `--role ROLE`, or neither (with `--admin`)")
                    .into());
            }
            let store = connect(&database.database).await?;
            let expires_at = expiry(&expires_in)?;
            let token = generate_token().context("Failed to read random bytes for a token")?;
            let new = NewToken {
                user,
                workspace,
                role: role.as_deref().and_then(Role::parse),
                admin,
                description,
                expires_at,
            };
            let record = store
                .create_token(&token_hash(&token), &new, &Actor::local())
                .await?;
            if json {
                printer::json(&json!({"token": token, "record": record}));
            } else {
                printer::out(&token);
                printer::note(format!(
                    "Token `{}` for `{}`; it is shown only now. Use it with `strata login URL --token-stdin` or `STRATA_TOKEN`",
                    record.id, record.user
                ));
            }
            Ok(())
        }
        ServerTokenCommand::List { database, json } => {
            let store = connect(&database.database).await?;
            let tokens = store.list_tokens(workspace.as_deref()).await?;
            if json {
                printer::json(&tokens);
            } else {
                printer::out(token_table(&tokens));
            }
            Ok(())
        }
        ServerTokenCommand::Revoke { database, id } => {
            let store = connect(&database.database).await?;
            let record = store.revoke_token(&id, &Actor::local()).await?;
            printer::out(format!(
                "Revoked token `{}` of `{}`",
                record.id, record.user
            ));
            Ok(())
        }
    }
}

fn token_table(tokens: &[TokenRecord]) -> String {
    let when = |t: Option<i64>| t.map_or_else(|| "-".to_string(), format_time);
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.user.clone(),
                t.workspace.clone().unwrap_or_else(|| "-".to_string()),
                if t.admin {
                    "admin".to_string()
                } else {
                    t.role.map_or_else(|| "-".to_string(), |r| r.to_string())
                },
                when(t.expires_at),
                when(t.last_used_at),
                if t.revoked_at.is_some() {
                    "revoked".to_string()
                } else if t.expires_at.is_some_and(|e| e <= now_millis()) {
                    "expired".to_string()
                } else {
                    "active".to_string()
                },
            ]
        })
        .collect();
    table::render(
        &[
            "ID",
            "USER",
            "WORKSPACE",
            "ROLE",
            "EXPIRES",
            "LAST USED",
            "STATE",
        ],
        &rows,
    )
}

/// `90d`, `12h` or `never` as an expiry time.
fn expiry(text: &str) -> Result<Option<i64>> {
    if text == "never" {
        return Ok(None);
    }
    let duration = humantime::parse_duration(text).map_err(|error| {
        UsageError::new(format!("Invalid `--expires-in {text}`: {error}"))
            .hint("Give a duration such as `90d` or `12h`, or `never`")
    })?;
    let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    Ok(Some(now_millis().saturating_add(millis)))
}

/// `strata login URL`.
pub(crate) fn login(args: &LoginArgs) -> Result<()> {
    let token = if args.token_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("Failed to read the token from standard input")?;
        text.trim().to_string()
    } else {
        std::env::var("STRATA_TOKEN").map_err(|_| {
            UsageError::new("No token given")
                .hint("Pipe it in with `--token-stdin`, or set `STRATA_TOKEN`")
        })?
    };
    let runtime = crate::commands::remote::runtime()?;
    let who = runtime.block_on(strata_client::login(
        &args.url,
        &strata_client::Token::new(token),
    ))?;
    printer::out(format!(
        "Logged in to {} as `{}`; the token is saved in {}",
        args.url,
        who.user,
        strata_client::credentials_path()?.display()
    ));
    Ok(())
}

/// `strata logout URL`.
pub(crate) fn logout(url: &str) -> Result<()> {
    let path = strata_client::credentials_path()?;
    let mut credentials = strata_client::Credentials::load(&path)?;
    if credentials.remove(url)? {
        credentials.save(&path)?;
        printer::out(format!("Forgot the token of {url}"));
    } else {
        printer::note(format!("No token was saved for {url}"));
    }
    Ok(())
}
