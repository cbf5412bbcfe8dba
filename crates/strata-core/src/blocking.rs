//! Blocking work (resolving, building, asking a scheduler) inside the use cases that await a
//! server.

/// Runs `work`, which blocks and may drive runtimes of its own (rattler's, a scheduler
/// client's), from inside an async use case. Tokio refuses to start, block on or drop a
/// runtime from a thread driving one; on a multi-threaded runtime the thread leaves it while
/// `work` runs, so the callers of those use cases drive them on one.
pub(crate) fn blocking<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::blocking;

    #[test]
    fn a_runtime_of_its_own_runs_inside_a_use_case() {
        let outer = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let answer = outer.block_on(async {
            blocking(|| {
                let inner = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                inner.block_on(async { 42 })
            })
        });
        assert_eq!(answer, 42);
    }
}
