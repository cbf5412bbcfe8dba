//! Refused requests in the audit log, without letting a flood of bad requests become a flood
//! of rows: per window (a minute by default) the first refusal of each kind and caller (the
//! token, or the client address when there is no usable token) is written in full, later ones
//! are only counted, and so are all refusals once a window has written its number of rows;
//! what was counted is written as one `auth.suppressed` row with the count when the window
//! ends. Each server process limits its own writes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use strata_store::store::{Refusal, RefusalReason, ServerStore};

/// How many refusal rows a server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalLimits {
    /// How long a window lasts.
    pub window: Duration,
    /// At most this many refusals written one by one per window (plus one summary row).
    pub rows_per_window: usize,
}

impl Default for RefusalLimits {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            rows_per_window: 100,
        }
    }
}

/// The current window: the keys written in it, with how many refusals of each were counted
/// after that, and the refusals counted because the window was full.
struct Window {
    started: Instant,
    written: HashMap<String, u64>,
    overflow: u64,
}

impl Window {
    fn counted(&self) -> u64 {
        self.written.values().sum::<u64>() + self.overflow
    }
}

pub(crate) struct Refusals {
    limits: RefusalLimits,
    window: Mutex<Window>,
}

/// What to write for one refusal.
#[derive(Debug, Default, PartialEq, Eq)]
struct Admission {
    /// The refusal itself.
    write: bool,
    /// A summary of the window that just ended: how many refusals it counted.
    summary: Option<u64>,
}

impl Refusals {
    pub(crate) fn new(limits: RefusalLimits) -> Self {
        Self {
            limits,
            window: Mutex::new(Window {
                started: Instant::now(),
                written: HashMap::new(),
                overflow: 0,
            }),
        }
    }

    pub(crate) fn window(&self) -> Duration {
        self.limits.window
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends the window if its time is up; the number of refusals it counted, if any.
    fn roll(window: &mut Window, limits: RefusalLimits, now: Instant) -> Option<u64> {
        if now.duration_since(window.started) < limits.window {
            return None;
        }
        let counted = window.counted();
        window.started = now;
        window.written.clear();
        window.overflow = 0;
        (counted > 0).then_some(counted)
    }

    fn admit(&self, key: &str, now: Instant) -> Admission {
        let mut window = self.lock();
        let summary = Self::roll(&mut window, self.limits, now);
        let write = if let Some(count) = window.written.get_mut(key) {
            *count += 1;
            false
        } else if window.written.len() < self.limits.rows_per_window {
            window.written.insert(key.to_string(), 0);
            true
        } else {
            window.overflow += 1;
            false
        };
        Admission { write, summary }
    }

    /// Audits `refusal` as the limits allow. A refusal that cannot be written is logged: the
    /// request is refused either way.
    pub(crate) async fn record(&self, store: &dyn ServerStore, key: &str, refusal: Refusal) {
        let admission = self.admit(key, Instant::now());
        if let Some(count) = admission.summary {
            write_summary(store, count).await;
        }
        if admission.write
            && let Err(error) = store.record_refusal(&refusal).await
        {
            tracing::warn!(error = %crate::errors::error_chain(&error), "a refused request could not be audited");
        }
    }

    /// Writes the summary of a window that ended without a refusal after it.
    pub(crate) async fn flush(&self, store: &dyn ServerStore) {
        let summary = {
            let mut window = self.lock();
            Self::roll(&mut window, self.limits, Instant::now())
        };
        if let Some(count) = summary {
            write_summary(store, count).await;
        }
    }
}

async fn write_summary(store: &dyn ServerStore, count: u64) {
    let summary = Refusal {
        reason: RefusalReason::Suppressed,
        workspace: None,
        resource: "refusals".to_string(),
        request_id: None,
        client: None,
        repeats: count,
    };
    if let Err(error) = store.record_refusal(&summary).await {
        tracing::warn!(error = %crate::errors::error_chain(&error), count, "counted refusals could not be audited");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_written_once_per_window_and_the_rest_counted() {
        let refusals = Refusals::new(RefusalLimits {
            window: Duration::from_secs(60),
            rows_per_window: 2,
        });
        let start = refusals.lock().started;
        let at = |seconds| start + Duration::from_secs(seconds);
        let admitted = |key, seconds| refusals.admit(key, at(seconds));
        assert_eq!(
            admitted("a", 1),
            Admission {
                write: true,
                summary: None
            }
        );
        assert_eq!(admitted("a", 2), Admission::default());
        assert!(admitted("b", 3).write);
        // The window is full: a new key is only counted.
        assert_eq!(admitted("c", 4), Admission::default());
        // The next window writes the count of the last one (a twice more, c once).
        assert_eq!(
            admitted("a", 61),
            Admission {
                write: true,
                summary: Some(2)
            }
        );
        assert!(admitted("c", 62).write);
        assert_eq!(
            admitted("d", 200),
            Admission {
                write: true,
                summary: None
            }
        );
    }
}
