//! CORS for the origins given (azmlinfsrv's `AML_CORS_ORIGINS`, which it hands to flask-cors with
//! the methods GET and POST): a request whose `Origin` is listed, exactly, or any origin with `*`,
//! gets `Access-Control-Allow-Origin`; a preflight also gets the allowed methods and headers.

use http::HeaderMap;
use http::header::{self, HeaderValue};

/// The allowed origins; empty means CORS is off.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cors {
    origins: Vec<String>,
}

impl Cors {
    pub(crate) fn new(origins: &[String]) -> Self {
        Self {
            origins: origins
                .iter()
                .map(|origin| origin.trim().to_string())
                .filter(|origin| !origin.is_empty())
                .collect(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.origins.is_empty()
    }

    /// Adds the CORS headers a request calls for to its response.
    pub(crate) fn apply(&self, request: &HeaderMap, response: &mut HeaderMap) {
        if self.origins.is_empty() {
            return;
        }
        let Some(origin) = request.get(header::ORIGIN) else {
            return;
        };
        let any = self.origins.iter().any(|allowed| allowed == "*");
        let listed = self
            .origins
            .iter()
            .any(|allowed| allowed.as_bytes() == origin.as_bytes());
        if !any && !listed {
            return;
        }
        if any {
            response.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        } else {
            response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            response.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        if request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
            response.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                response.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_listed_origins_match_exactly() {
        let cors = Cors::new(&["https://a.example".to_string(), " b.example".to_string()]);
        let mut response = HeaderMap::new();
        cors.apply(&headers(&[("origin", "https://a.example")]), &mut response);
        assert_eq!(response["access-control-allow-origin"], "https://a.example");
        assert_eq!(response["vary"], "Origin");
        let mut response = HeaderMap::new();
        cors.apply(&headers(&[("origin", "https://b.example")]), &mut response);
        assert!(response.is_empty());
        let mut response = HeaderMap::new();
        cors.apply(&headers(&[("origin", "b.example")]), &mut response);
        assert_eq!(response["access-control-allow-origin"], "b.example");
    }

    #[test]
    fn star_and_preflight() {
        let cors = Cors::new(&["*".to_string()]);
        let mut response = HeaderMap::new();
        let request = headers(&[
            ("origin", "https://x"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ]);
        cors.apply(&request, &mut response);
        assert_eq!(response["access-control-allow-origin"], "*");
        assert_eq!(response["access-control-allow-methods"], "GET, POST");
        assert_eq!(response["access-control-allow-headers"], "content-type");
        let mut response = HeaderMap::new();
        Cors::default().apply(&request, &mut response);
        assert!(response.is_empty());
    }
}
