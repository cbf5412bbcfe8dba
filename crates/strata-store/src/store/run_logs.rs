//! A run's combined log in the embedded workspace: appended at offsets, read in chunks.

use std::path::Path;

use super::LogChunk;
use crate::StoreError;

pub(super) fn strata_std_log() -> &'static str {
    // Where the run supervisor writes the combined output (`strata_run::STD_LOG`).
    "logs/std_log.txt"
}

/// Appends `text` to the log file at `offset`, which must be its length; a retried append
/// whose text is already there is a success.
pub(crate) fn append_at(
    path: &Path,
    run: &str,
    offset: u64,
    text: &str,
) -> Result<u64, StoreError> {
    use std::io::Write as _;
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(StoreError::io(parent))?;
    }
    let mut file = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(StoreError::io(path))?;
    let length = file.metadata().map_err(StoreError::io(path))?.len();
    let end = offset + text.len() as u64;
    if offset == length {
        file.write_all(text.as_bytes())
            .map_err(StoreError::io(path))?;
        return Ok(end);
    }
    if end <= length {
        let existing = fs_err::read(path).map_err(StoreError::io(path))?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if existing.get(start..start + text.len()) == Some(text.as_bytes()) {
            return Ok(length);
        }
    }
    Err(StoreError::LogOffset {
        run: run.to_string(),
        offset,
        length,
    })
}

/// At most `max` bytes of `bytes` from `offset`, cut back to a character boundary.
pub(crate) fn chunk_of(bytes: &[u8], offset: u64, max: u64) -> LogChunk {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let max = usize::try_from(max.max(1)).unwrap_or(usize::MAX);
    let mut end = start.saturating_add(max).min(bytes.len());
    // Do not split a UTF-8 sequence; the next read starts at its first byte.
    while end > start && end < bytes.len() && (bytes[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    LogChunk {
        offset: start as u64,
        text: String::from_utf8_lossy(&bytes[start..end]).into_owned(),
        next_offset: end as u64,
    }
}
