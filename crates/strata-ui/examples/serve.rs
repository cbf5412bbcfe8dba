//! The pages of a workspace on 127.0.0.1 without the rest of the CLI: what `bench/ui.sh`
//! times in a release build (`cargo run --release -p strata-ui --example serve -- WS PORT`).
#![expect(clippy::print_stdout, reason = "prints the URL, as `strata ui` does")]

use std::path::PathBuf;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(args.next().ok_or("usage: serve WORKSPACE/.strata [PORT]")?);
    let port = args.next().map_or(Ok(0), |p| p.parse())?;
    let workspace = strata_store::Workspace::open(&root)?;
    let listener = strata_ui::bind_local(port)?;
    println!("http://{}/", listener.local_addr()?);
    let ui = strata_ui::Ui::local(strata_store::store::SqliteStore::new(workspace));
    strata_ui::serve_until_interrupted(Arc::new(ui), listener)?;
    Ok(())
}
