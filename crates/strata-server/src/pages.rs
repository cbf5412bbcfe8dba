//! Cursor pagination for every list: `?cursor&limit`, answered as `{items, nextCursor}`.

use strata_store::store::{Cursor, CursorPage, MAX_PAGE_SIZE};

use crate::errors::ApiError;

/// The page size when a request names none.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 100;

/// A requested page size, refused outside 1..=[`MAX_PAGE_SIZE`].
pub(crate) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(limit) if (1..=MAX_PAGE_SIZE).contains(&limit) => Ok(limit),
        Some(limit) => Err(ApiError::invalid(format!(
            "`limit` is {limit}; a page holds 1 to {MAX_PAGE_SIZE} items"
        ))),
    }
}

/// A page of a list the store answers whole, sorted by a unique `key`.
pub(crate) fn page_by_key<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    cursor: Option<&str>,
    limit: usize,
) -> Result<CursorPage<T>, ApiError> {
    let after = cursor.map(Cursor::decode).transpose()?;
    let rows = items
        .into_iter()
        .map(|item| {
            let cursor = Cursor::new(key(&item), 0);
            (item, cursor)
        })
        .filter(|(_, c)| after.as_ref().is_none_or(|a| c.key > a.key))
        .take(limit + 1)
        .collect();
    Ok(Cursor::page(rows, limit))
}

/// A page of a list the store answers whole, in its own order (which only grows at the end).
pub(crate) fn page_by_position<T>(
    items: Vec<T>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<CursorPage<T>, ApiError> {
    let after = cursor.map(Cursor::decode).transpose()?.map_or(-1, |c| c.id);
    let rows = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            (
                item,
                Cursor::new("", i64::try_from(index).unwrap_or(i64::MAX)),
            )
        })
        .filter(|(_, c)| c.id > after)
        .take(limit + 1)
        .collect();
    Ok(Cursor::page(rows, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_to_the_end() {
        let items: Vec<u32> = (0..7).collect();
        let mut cursor = None;
        let mut seen = Vec::new();
        loop {
            let page = page_by_position(items.clone(), cursor.as_deref(), 3).unwrap();
            seen.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, items);
        let page = page_by_key(vec!["a", "b", "c"], |s| (*s).to_string(), None, 2).unwrap();
        let rest = page_by_key(
            vec!["a", "b", "c"],
            |s| (*s).to_string(),
            page.next_cursor.as_deref(),
            2,
        )
        .unwrap();
        assert_eq!(
            (page.items, rest.items, rest.next_cursor),
            (vec!["a", "b"], vec!["c"], None)
        );
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(501)).is_err());
        assert_eq!(page_limit(None).unwrap(), DEFAULT_PAGE_SIZE);
    }
}
