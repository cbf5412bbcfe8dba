use std::path::Path;

use anyhow::Result;
use strata_store::Workspace;

use super::Context;
use crate::printer;

/// `strata init [DIR]`.
pub(crate) fn run(context: &Context, dir: Option<&Path>) -> Result<()> {
    let dir = match dir.or(context.workspace_arg()) {
        Some(dir) if dir.is_relative() => context.cwd.join(dir),
        Some(dir) => dir.to_path_buf(),
        None => context.cwd.clone(),
    };
    let workspace = Workspace::init(&dir)?;
    printer::out(format!(
        "Initialized an empty Strata workspace in {}",
        workspace.root().display()
    ));
    Ok(())
}
