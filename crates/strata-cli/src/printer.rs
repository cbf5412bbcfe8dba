//! All terminal output goes through here: results on stdout, warnings and errors on stderr.
#![expect(clippy::print_stderr, reason = "the one place that prints")]

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;

/// Prints a line of results; a closed pipe (`strata env list | head`) is not an error.
pub(crate) fn out(text: impl AsRef<str>) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{}", escape_controls(text.as_ref()));
}

/// Writes `text` as it is (no newline added), escaped as [`out`] escapes.
pub(crate) fn out_part(text: &str) {
    let _ = io::stdout()
        .lock()
        .write_all(escape_controls(text).as_bytes());
}

/// Output of tens of megabytes made on every core and written in order while the rest is still
/// being made: each thread takes the next chunk of `chunk_len` items, `render`s it (with its
/// own `state`, kept between its chunks) into its one buffer, waits for the chunks before it to
/// be written, then writes its own. Memory stays at one chunk per core, where a document made
/// whole first is touched, page by page, all at once.
pub(crate) fn out_in_order<'a, T: Sync, S>(
    items: &'a [T],
    chunk_len: usize,
    state: impl Fn() -> S + Sync,
    render: impl Fn(&mut S, usize, &'a [T], &mut Vec<u8>) + Sync,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};

    let chunks: Vec<&'a [T]> = items.chunks(chunk_len.max(1)).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(chunks.len());
    let next = AtomicUsize::new(0);
    // The number of chunks written so far (`FAILED` once a chunk could not be made), and who
    // waits for it to move.
    const FAILED: usize = usize::MAX;
    let written = (Mutex::new(0usize), Condvar::new());
    let worker = || {
        let mut state = state();
        let mut buffer = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(chunk) = chunks.get(index) else {
                break;
            };
            buffer.clear();
            let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                render(&mut state, index, chunk, &mut buffer);
            }));
            let (count, turn) = &written;
            let mut count = count
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Err(panic) = rendered {
                // The others would wait for this chunk forever: they stop, and the panic goes on.
                *count = FAILED;
                turn.notify_all();
                drop(count);
                std::panic::resume_unwind(panic);
            }
            while *count != index {
                if *count == FAILED {
                    return;
                }
                count = turn
                    .wait(count)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            out_part(&String::from_utf8_lossy(&buffer));
            *count += 1;
            turn.notify_all();
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(worker);
        }
        worker();
    });
}

/// The version of the `--json` output contract (`docs/json.md`); raised only when a field is
/// removed or changes meaning, never for an added field.
pub(crate) const SCHEMA_VERSION: u64 = 1;

/// Prints a `--json` result: an object gains `schemaVersion` as its first field, and so does
/// each object of a top-level array (list commands keep printing arrays).
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) {
    let value = with_schema_version(serde_json::to_value(value).unwrap_or_default());
    out(serde_json::to_string_pretty(&value).unwrap_or_default());
}

fn with_schema_version(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            let mut object = serde_json::Map::new();
            object.insert("schemaVersion".to_string(), Value::from(SCHEMA_VERSION));
            object.extend(fields.into_iter().filter(|(k, _)| k != "schemaVersion"));
            Value::Object(object)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(_) => with_schema_version(item),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

pub(crate) fn warn(text: impl AsRef<str>) {
    eprintln!("warning: {}", escape_controls(text.as_ref()));
}

pub(crate) fn note(text: impl AsRef<str>) {
    eprintln!("{}", escape_controls(text.as_ref()));
}

pub(crate) fn error(text: impl AsRef<str>) {
    eprintln!("{}", escape_controls(text.as_ref()));
}

/// `text` with control characters (but newlines and tabs) and Unicode direction overrides
/// written as escapes (`\u{1b}`): messages carry values from files, and a crafted file must
/// not move the cursor, recolour the terminal or reorder what is shown. Raw output (a run's
/// logs) does not pass through here.
pub(crate) fn escape_controls(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if is_plain_ascii(text) || !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether `text` is printable ASCII, newlines and tabs only: most output is, and a byte scan
/// settles it without decoding characters. Each chunk is checked whole, without stopping at
/// the first miss, so the check is vectorised (tens of megabytes of `--json` pass here).
fn is_plain_ascii(text: &str) -> bool {
    text.as_bytes().chunks(64).all(|chunk| {
        chunk.iter().fold(true, |plain, &byte| {
            plain & ((0x20..0x7f).contains(&byte) | (byte == b'\n') | (byte == b'\t'))
        })
    })
}

/// Passes bytes through to stdout as they come (a run's output).
pub(crate) fn raw_stdout(bytes: &[u8]) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

/// Passes bytes through to stderr as they come.
pub(crate) fn raw_stderr(bytes: &[u8]) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(bytes);
    let _ = stderr.flush();
}

/// `1 file`, `2 files`: a count with its noun.
pub(crate) fn count(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #11, item 6: control characters from a crafted file were printed raw.
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape_controls("name `a\u{1b}[2J\u{7}b`\r\n\tnext \u{202e}x"),
            "name `a\\u{1b}[2J\\u{7}b`\\u{d}\n\tnext \\u{202e}x"
        );
        assert!(matches!(
            escape_controls("plain `text`\n"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("del\u{7f}"),
            "del\\u{7f}",
            "DEL is a control too"
        );
        assert!(matches!(escape_controls("déjà vu"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_control_character_is_found_in_any_chunk_of_a_long_text() {
        for at in [0, 63, 64, 65, 1000, 4095] {
            let mut text = "x".repeat(4096);
            text.replace_range(at..=at, "\u{1b}");
            assert!(!is_plain_ascii(&text), "escape at {at}");
            assert!(escape_controls(&text).contains("\\u{1b}"), "escape at {at}");
        }
        assert!(is_plain_ascii(&"line\tcell\n".repeat(100)));
    }
}
