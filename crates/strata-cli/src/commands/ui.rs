//! `strata ui [--port P]`: the workspace's web page on 127.0.0.1, in the foreground.

use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use strata_store::store::SqliteStore;
use strata_ui::{Ui, UiError};

use crate::commands::Context;
use crate::errors::UsageError;
use crate::printer;

#[derive(Debug, Args)]
pub(crate) struct UiArgs {
    /// The port on 127.0.0.1 (0 picks a free one). Only this machine can connect.
    #[arg(long, default_value_t = 5000)]
    pub(crate) port: u16,
}

/// Serves the pages until Ctrl-C; prints the URL and opens nothing.
pub(crate) fn run(context: &Context, args: &UiArgs) -> Result<()> {
    if let Some(url) = context.server_url() {
        return Err(UsageError::new(format!(
            "`{url}` is a server workspace: its server serves the pages"
        ))
        .hint(format!(
            "Open `{}/` in a browser and sign in with your token",
            url.trim_end_matches('/')
        ))
        .into());
    }
    let workspace = context.open_workspace()?;
    let listener = match strata_ui::bind_local(args.port) {
        Ok(listener) => listener,
        Err(UiError::Bind { address, source }) => {
            return Err(
                UsageError::new(format!("Cannot listen on `{address}`: {source}"))
                    .hint("Choose another port with `--port`, or `--port 0` for a free one")
                    .into(),
            );
        }
        Err(error) => return Err(error.into()),
    };
    let address = listener.local_addr()?;
    let ui = Arc::new(Ui::local(SqliteStore::new(workspace)));
    printer::out(format!("http://{address}/"));
    printer::note("Serving the workspace's web page; Ctrl-C stops");
    strata_ui::serve_until_interrupted(ui, listener)?;
    Ok(())
}
