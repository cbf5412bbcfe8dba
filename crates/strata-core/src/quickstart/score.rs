//! The quickstart's requests to its service, over plain HTTP on loopback.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use super::StepError;
use super::project::REQUESTS;

/// Sends each of [`REQUESTS`] to `/score`; answers each with the body it got.
pub(super) fn three_requests(port: u16) -> Result<Vec<(&'static str, String)>, StepError> {
    let mut answers = Vec::new();
    for body in REQUESTS {
        let (status, answer) = post(port, body).map_err(StepError::Score)?;
        if status != 200 {
            return Err(StepError::Refused {
                status,
                body: answer,
            });
        }
        answers.push((body, answer));
    }
    Ok(answers)
}

/// One `POST /score` on a fresh connection.
fn post(port: u16, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "POST /score HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
