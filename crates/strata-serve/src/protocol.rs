//! The frames between the server and a worker, over the worker's stdin and stdout pipes (the worker
//! moves them to other file descriptors before the entry script runs, so `print()` cannot corrupt
//! them). All integers are big-endian; `python/strata/_worker.py` documents the same format.
//!
//! ```text
//! request = u32 length (of everything after it) | u8 kind | u32 headers length | headers | payload
//!   kind B  payload = the POST body, raw; the worker decodes it as UTF-8 for run()
//!   kind Q  payload = the raw query string of a GET; the worker builds run()'s JSON text from it
//!   headers = a JSON object of the request headers, sent only to a run() that takes
//!             `request_headers` (empty otherwise)
//!   kind H  the whole request, for a run() decorated with `@rawhttp` or `@input_schema`:
//!           headers = {"method", "target", "headers": [[name, value], ...], "remote"},
//!           payload = the body
//!
//! reply   = u32 length (of everything after it) | u8 kind | u64 run() wall time in ns | payload
//!   kind R  ready: init() returned; payload = {"init_ms": float, "headers": bool, "pid": int,
//!           "mode": "plain" | "schema" | "raw", "schema": the decorators' schemas or null}
//!   kind F  init failed; payload = the traceback (the worker exits with code 3)
//!   kind O  run() returned; payload = the response body (json.dumps of the result)
//!   kind P  run() returned a response: payload = u32 head length | head | body, where
//!           head = {"status": int, "headers": [[name, value], ...]}
//!   kind C  run() returned a stream: payload = u32 head length | head; then kind D frames
//!           (payload = one chunk) and kind Z (the end; its time covers the stream) or kind E
//!   kind V  the request does not fit run()'s decorators; payload = {"status", "message"}
//!   kind E  run() raised; payload = the traceback
//!   kind S  internal error (result not JSON-serialisable, query not UTF-8);
//!           payload = the traceback
//!   kind U  the body is not UTF-8; payload = the whole 400 response body
//! ```

use http::HeaderMap;

use crate::pyjson;

pub(crate) const KIND_BODY: u8 = b'B';
pub(crate) const KIND_QUERY: u8 = b'Q';
pub(crate) const KIND_HTTP: u8 = b'H';

pub(crate) const READY: u8 = b'R';
pub(crate) const INIT_FAILED: u8 = b'F';
pub(crate) const OK: u8 = b'O';
pub(crate) const RUN_FAILED: u8 = b'E';
pub(crate) const INTERNAL_ERROR: u8 = b'S';
pub(crate) const BAD_INPUT: u8 = b'U';
pub(crate) const RESPONSE: u8 = b'P';
pub(crate) const STREAM: u8 = b'C';
pub(crate) const CHUNK: u8 = b'D';
pub(crate) const END: u8 = b'Z';
pub(crate) const REJECTED: u8 = b'V';

/// The status and headers of a response `run()` made.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
}

/// A request the decorators refused.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Rejection {
    pub(crate) status: u16,
    pub(crate) message: String,
}

/// The head of a kind P or C payload and the offset of the body after it.
pub(crate) fn parse_head(payload: &[u8]) -> Option<(ResponseHead, usize)> {
    let length = u32::from_be_bytes(payload.get(..4)?.try_into().ok()?) as usize;
    let end = 4usize.checked_add(length)?;
    let head = serde_json::from_slice(payload.get(4..end)?).ok()?;
    Some((head, end))
}

/// The headers slot of a kind H request: method, target, headers (values read as Latin-1) and
/// the client's address.
pub(crate) fn http_meta(
    out: &mut String,
    method: &str,
    target: &str,
    headers: &HeaderMap,
    remote: Option<std::net::SocketAddr>,
) {
    out.push_str("{\"method\": ");
    pyjson::write_str(out, method);
    out.push_str(", \"target\": ");
    pyjson::write_str(out, target);
    out.push_str(", \"headers\": [");
    for (index, (name, value)) in headers.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        out.push('[');
        pyjson::write_str(out, name.as_str());
        out.push_str(", ");
        let text: String = value
            .as_bytes()
            .iter()
            .map(|&byte| char::from(byte))
            .collect();
        pyjson::write_str(out, &text);
        out.push(']');
    }
    out.push_str("], \"remote\": ");
    match remote {
        Some(address) => pyjson::write_str(out, &address.ip().to_string()),
        None => out.push_str("null"),
    }
    out.push('}');
}

/// Length prefix, kind and headers length of a request.
pub(crate) const REQUEST_HEADER_LEN: usize = 9;
/// Length prefix, kind and run time of a reply.
pub(crate) const REPLY_HEADER_LEN: usize = 13;
/// Room kept in a frame for the headers: a body may take the rest of the 32-bit length.
pub(crate) const MAX_HEADERS_LEN: usize = 1 << 20;
/// The largest body a frame can carry.
pub(crate) const MAX_BODY_LEN: usize = u32::MAX as usize - 5 - MAX_HEADERS_LEN;

/// Appends a request's fixed header to `out`.
pub(crate) fn request_header(out: &mut Vec<u8>, kind: u8, headers_len: usize, payload_len: usize) {
    let length = 5 + headers_len + payload_len;
    out.reserve(REQUEST_HEADER_LEN + headers_len);
    out.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(&u32::try_from(headers_len).unwrap_or(u32::MAX).to_be_bytes());
}

/// A reply's fixed header: its kind, `run()` wall time in ns and payload length.
pub(crate) fn parse_reply_header(header: &[u8; REPLY_HEADER_LEN]) -> (u8, u64, usize) {
    let [a, b, c, d, kind, rest @ ..] = *header;
    let length = u32::from_be_bytes([a, b, c, d]) as usize;
    (kind, u64::from_be_bytes(rest), length.saturating_sub(9))
}

/// `dict(request.headers)` as Flask gives it to `run()`: names title-cased as Werkzeug does
/// (`X-Ms-Request-Id`), repeated headers joined with `,` as gunicorn does, values read as Latin-1.
pub(crate) fn headers_json(out: &mut String, headers: &HeaderMap) {
    out.push('{');
    let mut first = true;
    for name in headers.keys() {
        if !first {
            out.push_str(", ");
        }
        first = false;
        pyjson::write_str(out, &title_case(name.as_str()));
        out.push_str(": ");
        let mut value = String::new();
        for (index, part) in headers.get_all(name).iter().enumerate() {
            if index > 0 {
                value.push(',');
            }
            value.extend(part.as_bytes().iter().map(|&byte| char::from(byte)));
        }
        pyjson::write_str(out, &value);
    }
    out.push('}');
}

/// Python's `str.title()` on an ASCII header name: a letter is upper case after any character
/// that is not a letter, lower case after a letter.
fn title_case(name: &str) -> String {
    let mut previous_letter = false;
    name.chars()
        .map(|character| {
            let letter = character.is_ascii_alphabetic();
            let mapped = if letter && !previous_letter {
                character.to_ascii_uppercase()
            } else {
                character.to_ascii_lowercase()
            };
            previous_letter = letter;
            mapped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn header_names_are_title_cased_like_python() {
        assert_eq!(title_case("x-ms-request-id"), "X-Ms-Request-Id");
        assert_eq!(title_case("x-b3-traceid"), "X-B3-Traceid");
        assert_eq!(title_case("a3d"), "A3D");
        assert_eq!(title_case("content-type"), "Content-Type");
    }

    #[test]
    fn repeated_headers_are_joined() {
        let mut headers = HeaderMap::new();
        headers.append("host", HeaderValue::from_static("h"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.append("x-l", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let mut out = String::new();
        headers_json(&mut out, &headers);
        assert_eq!(out, r#"{"Host": "h", "X-A": "1,2", "X-L": "caf\u00e9"}"#);
    }

    #[test]
    fn http_meta_is_json() {
        let mut headers = HeaderMap::new();
        headers.append("host", HeaderValue::from_static("h"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let mut out = String::new();
        http_meta(&mut out, "GET", "/score?a=\"", &headers, None);
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"method": "GET", "target": "/score?a=\"",
                "headers": [["host", "h"], ["x-a", "1"], ["x-a", "2"]], "remote": null})
        );
    }

    #[test]
    fn response_heads_parse() {
        let head = br#"{"status": 201, "headers": [["a", "b"]]}"#;
        let mut payload = u32::try_from(head.len()).unwrap().to_be_bytes().to_vec();
        payload.extend_from_slice(head);
        payload.extend_from_slice(b"body");
        let (parsed, offset) = parse_head(&payload).unwrap();
        assert_eq!(parsed.status, 201);
        assert_eq!(parsed.headers, [("a".to_string(), "b".to_string())]);
        assert_eq!(&payload[offset..], b"body");
        assert!(parse_head(&payload[..6]).is_none());
    }

    #[test]
    fn frame_headers_round_trip() {
        let mut out = Vec::new();
        request_header(&mut out, KIND_BODY, 2, 10);
        assert_eq!(out, [0, 0, 0, 17, b'B', 0, 0, 0, 2]);
        let reply = [0, 0, 0, 12, b'O', 0, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(parse_reply_header(&reply), (OK, 256, 3));
    }
}
