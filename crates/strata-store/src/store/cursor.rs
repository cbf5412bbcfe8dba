//! Keyset cursors: opaque to clients, a sort key and a row id inside.

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// The most items one page holds.
pub const MAX_PAGE_SIZE: usize = 500;

/// One page of a list, and where the next starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "{T}Page")]
pub struct CursorPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The position after the last item of a page: its sort key and unique id. Walking a list
/// that grows meanwhile still returns every earlier item once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "i")]
    pub id: i64,
}

impl Cursor {
    pub fn new(key: impl Into<String>, id: i64) -> Self {
        Self {
            key: key.into(),
            id,
        }
    }

    /// A cursor whose key is two values (names and versions, which never hold U+001F).
    pub fn of_pair(first: &str, second: &str) -> Self {
        Self::new(format!("{first}\u{1f}{second}"), 0)
    }

    /// The two values of a cursor made by [`Cursor::of_pair`].
    pub fn pair(&self) -> Result<(&str, &str), StoreError> {
        self.key
            .split_once('\u{1f}')
            .ok_or_else(|| StoreError::InvalidCursor {
                cursor: self.encode().chars().take(80).collect(),
            })
    }

    /// The opaque form given to clients.
    pub fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(text: &str) -> Result<Self, StoreError> {
        let invalid = || StoreError::InvalidCursor {
            cursor: text.chars().take(80).collect(),
        };
        let bytes = hex::decode(text).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }

    /// A page size within 1..=[`MAX_PAGE_SIZE`].
    pub fn clamp_limit(limit: usize) -> usize {
        limit.clamp(1, MAX_PAGE_SIZE)
    }

    /// Builds a page from `limit + 1` rows read past the cursor.
    pub fn page<T>(mut rows: Vec<(T, Cursor)>, limit: usize) -> CursorPage<T> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|(_, cursor)| cursor.encode())
        } else {
            None
        };
        CursorPage {
            items: rows.into_iter().map(|(item, _)| item).collect(),
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor::new("env\u{1}2", 42);
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("zz").is_err());
        assert!(Cursor::decode(&hex::encode("{}")).is_err());
        let page = Cursor::page(vec![(1, Cursor::new("a", 1)), (2, Cursor::new("b", 2))], 1);
        assert_eq!(page.items, vec![1]);
        assert_eq!(
            Cursor::decode(page.next_cursor.as_deref().unwrap())
                .unwrap()
                .id,
            1
        );
    }
}
