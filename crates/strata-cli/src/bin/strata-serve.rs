//! The scoring server alone, as container images of services run it:
//! `strata-serve CONFIG.json [ADDRESS]` (default address `0.0.0.0:5001`, Azure ML's port).

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(config), address) = (args.next(), args.next()) else {
        let _ = writeln!(
            std::io::stderr(),
            "usage: strata-serve CONFIG.json [ADDRESS]"
        );
        return ExitCode::from(2);
    };
    match serve(&config, address.as_deref().unwrap_or("0.0.0.0:5001")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error}");
            ExitCode::from(1)
        }
    }
}

fn serve(config: &str, address: &str) -> Result<(), Box<dyn std::error::Error>> {
    let text =
        std::fs::read_to_string(config).map_err(|e| format!("Cannot read `{config}`: {e}"))?;
    let config: strata_serve::ServeConfig =
        serde_json::from_str(&text).map_err(|e| format!("Invalid `{config}`: {e}"))?;
    let address: SocketAddr = address.parse()?;
    let sink: strata_serve::LogSink = Arc::new(|lines: &str| {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(lines.as_bytes());
        let _ = out.flush();
    });
    strata_serve::run(config, address, sink)?;
    Ok(())
}
