//! How database failures become [`StoreError`]s: an unreachable database is `Unavailable` (the
//! server answers 503 and the pool reconnects when it is back), anything else `Backend`.

use std::borrow::Cow;

use strata_store::StoreError;

/// What the messages call the database.
pub(crate) const DATABASE: &str = "The PostgreSQL database";

/// SQLSTATEs of a server that is going away or not there yet: class 08 (connection exception),
/// shutdowns (57P01-57P03), and too many connections (53300).
fn is_unavailable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// Whether `error` means the database cannot be reached rather than that a query failed.
pub(crate) fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        // A connection dropped mid-message surfaces as a protocol error.
        sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| is_unavailable_state(&code)),
        _ => false,
    }
}

/// The SQLSTATE of a database error, if it is one.
pub(crate) fn sql_state(error: &sqlx::Error) -> Option<Cow<'_, str>> {
    match error {
        sqlx::Error::Database(database) => database.code(),
        _ => None,
    }
}

/// Whether `error` is a unique-constraint violation (the row is already there).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    sql_state(error).is_some_and(|code| code == "23505")
}

/// Maps an error of `context` (e.g. `registering an environment`).
pub(crate) fn db(context: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |error| from_sqlx(context, &error)
}

pub(crate) fn from_sqlx(context: &str, error: &sqlx::Error) -> StoreError {
    if is_unavailable(error) {
        StoreError::Unavailable {
            what: DATABASE.to_string(),
            message: format!("{context}: {error}"),
        }
    } else {
        StoreError::Backend {
            what: format!("PostgreSQL while {context}"),
            message: error.to_string(),
        }
    }
}

/// A stored document that does not parse.
pub(crate) fn corrupt(what: String) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |source| StoreError::CorruptRecord { what, source }
}

/// A connection URL fit for messages: the password replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Only fails for URLs that cannot have a password, which this one has.
                let _ = parsed.set_password(Some("***"));
            }
            // A password may also come as a query parameter (`?password=`).
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "***".to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) => "<an unparsable PostgreSQL URL>".to_string(),
    }
}

/// Removes `secret` from a message (sqlx errors may quote the URL they were given).
pub(crate) fn scrub(message: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() => message.replace(secret, "***"),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("postgres://alice:s3cret@db:5432/strata"),
            "postgres://alice:***@db:5432/strata"
        );
        assert_eq!(
            redact_url("postgres://alice@db/strata?password=s3cret&sslmode=require"),
            "postgres://alice@db/strata?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("not a url s3cret"),
            "<an unparsable PostgreSQL URL>"
        );
        assert_eq!(scrub("bad s3cret here", Some("s3cret")), "bad *** here");
    }
}
