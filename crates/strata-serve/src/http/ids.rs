//! Request-id headers, as azmlinfsrv sets them before and after every request on its own routes.
//!
//! - `x-request-id`: the request's, else a fresh uuid4.
//! - `x-ms-request-id` (legacy): the request's if given, else `x-ms-client-request-id`, else
//!   `x-request-id`.
//! - `x-ms-client-request-id`: the request's; copied from the legacy header when only that one
//!   was given.
//! - `TraceId`: echoed.
//!
//! Values longer than 100 characters get 431.

use http::header::{HeaderMap, HeaderName, HeaderValue};

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(crate) const X_MS_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-request-id");
pub(crate) const X_MS_CLIENT_REQUEST_ID: HeaderName =
    HeaderName::from_static("x-ms-client-request-id");
pub(crate) const TRACE_ID: HeaderName = HeaderName::from_static("traceid");
pub(crate) const X_MS_SERVER_VERSION: HeaderName = HeaderName::from_static("x-ms-server-version");

/// azmlinfsrv's `HEADER_LIMIT`.
const LIMIT: usize = 100;

/// The ids a response carries.
#[derive(Debug, Default)]
pub(crate) struct RequestIds {
    request_id: Option<HeaderValue>,
    legacy: Option<HeaderValue>,
    client: Option<HeaderValue>,
    trace: Option<HeaderValue>,
    /// The request used the deprecated `x-ms-request-id`.
    pub(crate) legacy_used: bool,
}

/// The 431 messages.
pub(crate) const REQUEST_ID_TOO_LONG: &str = "x-request-id must not exceed 100 characters";
pub(crate) const CLIENT_IDS_TOO_LONG: &str =
    "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters";

impl RequestIds {
    /// The ids for a request, and the 431 message when one is too long (the response then
    /// carries only the ids that were accepted).
    pub(crate) fn read(headers: &HeaderMap) -> (Self, Option<&'static str>) {
        let trace = headers.get(TRACE_ID).cloned();
        let request_id = match headers.get(X_REQUEST_ID) {
            Some(value) => value.clone(),
            None => fresh_uuid(),
        };
        if request_id.len() > LIMIT {
            let ids = Self {
                trace,
                ..Self::default()
            };
            return (ids, Some(REQUEST_ID_TOO_LONG));
        }
        let given_legacy = headers
            .get(X_MS_REQUEST_ID)
            .filter(|value| !value.is_empty());
        let given_client = headers
            .get(X_MS_CLIENT_REQUEST_ID)
            .filter(|value| !value.is_empty());
        let legacy_used = given_legacy.is_some();
        let (legacy, client) = match given_legacy {
            Some(legacy) => (Some(legacy), given_client.or(Some(legacy))),
            None => (given_client.or(Some(&request_id)), given_client),
        };
        let legacy = legacy.filter(|value| !value.is_empty()).cloned();
        let client = client.cloned();
        let request_id = Some(request_id).filter(|value| !value.is_empty());
        if legacy.as_ref().is_some_and(|value| value.len() > LIMIT)
            || client.as_ref().is_some_and(|value| value.len() > LIMIT)
        {
            let ids = Self {
                request_id,
                trace,
                legacy_used,
                ..Self::default()
            };
            return (ids, Some(CLIENT_IDS_TOO_LONG));
        }
        let ids = Self {
            request_id,
            legacy,
            client,
            trace,
            legacy_used,
        };
        (ids, None)
    }

    /// Adds the server version (unless it is turned off) and the ids to a response, in
    /// azmlinfsrv's order.
    pub(crate) fn apply(self, headers: &mut HeaderMap, server_version: Option<&HeaderValue>) {
        if let Some(version) = server_version {
            headers.insert(X_MS_SERVER_VERSION, version.clone());
        }
        if let Some(value) = self.request_id {
            headers.insert(X_REQUEST_ID, value);
        }
        if let Some(value) = self.legacy {
            headers.insert(X_MS_REQUEST_ID, value);
        }
        if let Some(value) = self.client {
            headers.insert(X_MS_CLIENT_REQUEST_ID, value);
        }
        if let Some(value) = self.trace {
            headers.insert(TRACE_ID, value);
        }
    }
}

fn fresh_uuid() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(pairs: &[(&str, &str)]) -> (Vec<(String, String)>, Option<&'static str>) {
        let mut request = HeaderMap::new();
        for (name, value) in pairs {
            request.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let (ids, error) = RequestIds::read(&request);
        let mut response = HeaderMap::new();
        ids.apply(&mut response, Some(&HeaderValue::from_static("strata/0")));
        let found = response
            .iter()
            .filter(|(name, _)| *name != X_MS_SERVER_VERSION)
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
            .collect();
        (found, error)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| ((*name).to_string(), (*value).to_string()))
            .collect()
    }

    #[test]
    fn request_id_only() {
        assert_eq!(
            ids(&[("x-request-id", "r")]),
            (
                pairs(&[("x-request-id", "r"), ("x-ms-request-id", "r")]),
                None
            )
        );
    }

    #[test]
    fn fresh_request_id_is_a_uuid4() {
        let (found, _) = ids(&[]);
        assert_eq!(found[0].0, "x-request-id");
        assert_eq!(found[0].1.len(), 36);
        assert_eq!(&found[0].1[14..15], "4");
        assert_eq!(
            found[1],
            ("x-ms-request-id".to_string(), found[0].1.clone())
        );
    }

    #[test]
    fn client_id_becomes_the_legacy_id() {
        assert_eq!(
            ids(&[("x-request-id", "r"), ("x-ms-client-request-id", "c")]),
            (
                pairs(&[
                    ("x-request-id", "r"),
                    ("x-ms-request-id", "c"),
                    ("x-ms-client-request-id", "c")
                ]),
                None
            )
        );
    }

    #[test]
    fn legacy_id_becomes_the_client_id() {
        assert_eq!(
            ids(&[
                ("x-request-id", "r"),
                ("x-ms-request-id", "l"),
                ("TraceId", "t")
            ]),
            (
                pairs(&[
                    ("x-request-id", "r"),
                    ("x-ms-request-id", "l"),
                    ("x-ms-client-request-id", "l"),
                    ("traceid", "t")
                ]),
                None
            )
        );
    }

    #[test]
    fn too_long_ids() {
        let long = "x".repeat(101);
        assert_eq!(
            ids(&[("x-request-id", &long)]),
            (vec![], Some(REQUEST_ID_TOO_LONG))
        );
        assert_eq!(
            ids(&[("x-request-id", "r"), ("x-ms-client-request-id", &long)]),
            (pairs(&[("x-request-id", "r")]), Some(CLIENT_IDS_TOO_LONG))
        );
        let hundred = "x".repeat(100);
        assert_eq!(ids(&[("x-request-id", &hundred)]).1, None);
    }
}
