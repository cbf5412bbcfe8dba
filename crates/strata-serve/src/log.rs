//! The service log: access lines, worker output and lifecycle events. Request paths only push an
//! entry into a bounded channel; one thread stamps, formats and hands batches to the sink, so a
//! slow sink never holds up a request (when it falls too far behind, lines are dropped and
//! counted).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Receives the service log, always from the same dedicated thread. Each call gets one or more
/// complete lines, each ending in `\n`, formatted as
/// `2025-06-01T12:00:00.123Z I access - POST /score 200 2.385ms 20` (UTC time, level `I`, `W` or
/// `E`, source, message).
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Entries that may wait for the log thread before new ones are dropped.
const CAPACITY: usize = 16 * 1024;
/// Bytes of messages that may wait for the log thread before new ones are dropped.
const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
/// Largest batch handed to the sink in one call.
const BATCH_BYTES: usize = 64 * 1024;
/// Pause after each batch: entries logged meanwhile queue up without waking the thread (a wake-up
/// costs the logging request a syscall), and go to the sink together.
const BATCH_PAUSE: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    fn letter(self) -> char {
        match self {
            Self::Info => 'I',
            Self::Warning => 'W',
            Self::Error => 'E',
        }
    }
}

/// Who logged an entry: a fixed name (`access`, `strata-serve`) or a worker.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Source {
    fn as_str(&self) -> &str {
        match self {
            Self::Static(name) => name,
            Self::Shared(name) => name,
        }
    }
}

impl From<&'static str> for Source {
    fn from(name: &'static str) -> Self {
        Self::Static(name)
    }
}

impl From<&Arc<str>> for Source {
    fn from(name: &Arc<str>) -> Self {
        Self::Shared(Arc::clone(name))
    }
}

struct Entry {
    time: SystemTime,
    level: Level,
    source: Source,
    message: String,
}

enum Message {
    Entry(Entry),
    Stop,
}

/// A handle for logging, cheap to clone.
#[derive(Clone)]
pub(crate) struct Log {
    sender: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
    queued: Arc<AtomicUsize>,
}

impl Log {
    pub(crate) fn log(&self, level: Level, source: impl Into<Source>, message: impl Into<String>) {
        let message = message.into();
        let size = message.len();
        if self.queued.fetch_add(size, Ordering::Relaxed) + size > MAX_QUEUED_BYTES {
            self.queued.fetch_sub(size, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let entry = Entry {
            time: SystemTime::now(),
            level,
            source: source.into(),
            message,
        };
        match self.sender.try_send(Message::Entry(entry)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.queued.fetch_sub(size, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The server has stopped: nothing reads the log any more.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    pub(crate) fn info(&self, source: impl Into<Source>, message: impl Into<String>) {
        self.log(Level::Info, source, message);
    }

    pub(crate) fn warn(&self, source: impl Into<Source>, message: impl Into<String>) {
        self.log(Level::Warning, source, message);
    }

    pub(crate) fn error(&self, source: impl Into<Source>, message: impl Into<String>) {
        self.log(Level::Error, source, message);
    }
}

/// The log thread; [`Logger::close`] writes what is pending and stops it.
pub(crate) struct Logger {
    log: Log,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Logger {
    pub(crate) fn start(sink: LogSink) -> Self {
        let (sender, receiver) = sync_channel(CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let queued = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&dropped);
        let in_queue = Arc::clone(&queued);
        let thread = std::thread::Builder::new()
            .name("strata-serve-log".to_string())
            .spawn(move || drain(&receiver, &counter, &in_queue, &*sink))
            .ok();
        Self {
            log: Log {
                sender,
                dropped,
                queued,
            },
            thread: Mutex::new(thread),
        }
    }

    pub(crate) fn log(&self) -> Log {
        self.log.clone()
    }

    /// Hands everything logged so far to the sink and stops the thread (blocks until then).
    pub(crate) fn close(&self) {
        let thread = self.thread.lock().ok().and_then(|mut thread| thread.take());
        if let Some(thread) = thread {
            // A blocking send: the stop must not be dropped when the channel is full.
            let _ = self.log.sender.send(Message::Stop);
            let _ = thread.join();
        }
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.close();
    }
}

fn drain(
    receiver: &Receiver<Message>,
    dropped: &AtomicU64,
    queued: &AtomicUsize,
    sink: &(dyn Fn(&str) + Send + Sync),
) {
    let mut buffer = String::with_capacity(BATCH_BYTES);
    loop {
        let Ok(first) = receiver.recv() else { return };
        let mut stop = false;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Entry(entry) => {
                    queued.fetch_sub(entry.message.len(), Ordering::Relaxed);
                    format_entry(&mut buffer, &entry);
                }
                Message::Stop => {
                    stop = true;
                    break;
                }
            }
            if buffer.len() < BATCH_BYTES {
                next = receiver.try_recv().ok();
            }
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let entry = Entry {
                time: SystemTime::now(),
                level: Level::Warning,
                source: Source::Static("strata-serve"),
                message: format!("{lost} log lines were dropped: the log sink is too slow"),
            };
            format_entry(&mut buffer, &entry);
        }
        if !buffer.is_empty() {
            sink(&buffer);
            buffer.clear();
        }
        if stop {
            return;
        }
        std::thread::sleep(BATCH_PAUSE);
    }
}

fn format_entry(buffer: &mut String, entry: &Entry) {
    let mut stamp = String::with_capacity(24);
    write_timestamp(&mut stamp, entry.time);
    let message = entry.message.trim_end_matches(['\n', '\r']);
    for line in message.split('\n') {
        let _ = writeln!(
            buffer,
            "{stamp} {} {} - {}",
            entry.level.letter(),
            entry.source.as_str(),
            line.trim_end_matches('\r')
        );
    }
}

/// `2025-06-01T12:00:00.123Z`.
fn write_timestamp(out: &mut String, time: SystemTime) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let (year, month, day) = civil_from_days(days);
    let of_day = seconds % 86_400;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    );
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc() {
        let mut out = String::new();
        write_timestamp(
            &mut out,
            UNIX_EPOCH + Duration::from_millis(1_709_251_199_123),
        );
        assert_eq!(out, "2024-02-29T23:59:59.123Z");
        out.clear();
        write_timestamp(&mut out, UNIX_EPOCH);
        assert_eq!(out, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn multi_line_messages_keep_the_prefix() {
        let lines = Arc::new(Mutex::new(String::new()));
        let kept = Arc::clone(&lines);
        let logger = Logger::start(Arc::new(move |batch: &str| {
            kept.lock().unwrap().push_str(batch);
        }));
        logger.log().error("worker-1", "Traceback:\n  line\n");
        logger.close();
        let text = lines.lock().unwrap().clone();
        let found: Vec<&str> = text.lines().map(|line| &line[25..]).collect();
        assert_eq!(found, ["E worker-1 - Traceback:", "E worker-1 -   line"]);
    }
}
