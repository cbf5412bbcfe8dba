//! Diagnostics on stderr with `tracing`: off unless `-v` or `RUST_LOG` asks for them.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber: `RUST_LOG` when set, else the level `-v` (Strata's own debug
/// lines) or `-vv` (everything at debug, Strata's at trace) asks for, else warnings only.
pub(crate) fn init(verbose: u8) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::new(directives),
        _ => EnvFilter::new(match verbose {
            0 => "warn",
            1 => {
                "warn,strata=debug,strata_build=debug,strata_run=debug,strata_serve=debug,strata_store=debug,strata_image=debug,strata_spec=debug"
            }
            _ => {
                "debug,strata=trace,strata_build=trace,strata_run=trace,strata_serve=trace,strata_store=trace,strata_image=trace,strata_spec=trace"
            }
        }),
    };
    // A second `init` (tests calling `main` twice) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .without_time()
        .try_init();
}
