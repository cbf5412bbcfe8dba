//! The worker pool: one task per worker slot. Requests wait in one bounded FIFO queue and go to
//! whichever worker is idle. A worker that times out, outgrows its memory limit or dies costs only
//! its own request; its slot starts a replacement while the others keep serving. A reload replaces
//! the workers one slot at a time, each only once its successor finished `init()`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::log::Log;
use crate::protocol::{self, Rejection, ResponseHead};
use crate::worker::{
    Failure, Mode, Reply, ScoreRequest, ScriptInfo, StartError, Worker, WorkerSpec,
};

/// A request waiting for a worker.
pub(crate) struct Job {
    pub(crate) request: ScoreRequest,
    pub(crate) reply: oneshot::Sender<Outcome>,
}

/// The chunks of a streamed answer; an `Err` cuts the stream off (the script raised, or timed out).
pub(crate) type Chunks = mpsc::Receiver<Result<Bytes, StreamCut>>;

/// Why a stream ended early.
#[derive(Debug, thiserror::Error)]
#[error("the scoring stream was cut off: {0}")]
pub(crate) struct StreamCut(pub(crate) &'static str);

/// Chunks that may wait for a slow client before the worker is held back.
const STREAM_BUFFER: usize = 8;

/// What became of a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// `run()` returned; the response body and `run()`'s wall time.
    Ok {
        body: Bytes,
        run_nanos: u64,
    },
    /// The body is not UTF-8; the whole 400 response body.
    BadInput {
        body: Bytes,
    },
    /// `run()` returned a response of its own.
    Response {
        head: ResponseHead,
        body: Bytes,
        run_nanos: u64,
    },
    /// `run()` returned a generator: its chunks follow.
    Stream {
        head: ResponseHead,
        chunks: Chunks,
    },
    /// The request does not fit `run()`'s decorators.
    Rejected(Rejection),
    RunFailed,
    /// The result is not JSON-serialisable (azmlinfsrv's "internal error").
    InternalError,
    Timeout,
    WorkerDied,
    OverMemory,
}

/// How the first start of a slot went.
pub(crate) enum Startup {
    Ready(ScriptInfo),
    Failed(StartError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    Graceful,
    Force,
}

enum Command {
    Reload(oneshot::Sender<Result<(), String>>),
}

pub(crate) struct PoolSettings {
    pub(crate) workers: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) run_timeout: Duration,
    pub(crate) memory_limit: Option<u64>,
}

struct Shared {
    spec: WorkerSpec,
    queue: Mutex<mpsc::Receiver<Job>>,
    ready: AtomicUsize,
    /// The [`Mode`] of the worker that started last.
    mode: AtomicU8,
    /// What the worker that started last said about its script.
    info: std::sync::Mutex<ScriptInfo>,
    run_timeout: Duration,
    memory_limit: Option<u64>,
    log: Log,
}

/// The running pool; [`Pool::stop`] ends it.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Job>,
    commands: Vec<mpsc::Sender<Command>>,
    stop: watch::Sender<Stop>,
    tasks: Vec<JoinHandle<()>>,
}

/// What the HTTP side needs: the queue and the readiness count.
#[derive(Clone)]
pub(crate) struct PoolHandle {
    shared: Arc<Shared>,
    pub(crate) queue: mpsc::Sender<Job>,
    pub(crate) workers: usize,
}

impl PoolHandle {
    /// Workers that finished `init()` and are not being replaced.
    pub(crate) fn ready(&self) -> usize {
        self.shared.ready.load(Ordering::Relaxed)
    }

    /// How the current script's `run()` is called.
    pub(crate) fn mode(&self) -> Mode {
        Mode::from_u8(self.shared.mode.load(Ordering::Relaxed))
    }

    /// What the worker that started last said about its script.
    pub(crate) fn info(&self) -> ScriptInfo {
        self.shared
            .info
            .lock()
            .map(|info| info.clone())
            .unwrap_or_default()
    }
}

impl Shared {
    fn started(&self, worker: &Worker) {
        self.mode.store(worker.info.mode.to_u8(), Ordering::Relaxed);
        if let Ok(mut info) = self.info.lock() {
            *info = worker.info.clone();
        }
    }
}

impl Pool {
    /// Starts every slot; each reports its first start on the returned channel.
    pub(crate) fn start(
        spec: WorkerSpec,
        settings: &PoolSettings,
        log: Log,
    ) -> (Self, mpsc::Receiver<Startup>) {
        let (queue, receiver) = mpsc::channel(settings.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            spec,
            queue: Mutex::new(receiver),
            ready: AtomicUsize::new(0),
            mode: AtomicU8::new(Mode::Plain.to_u8()),
            info: std::sync::Mutex::new(ScriptInfo::default()),
            run_timeout: settings.run_timeout,
            memory_limit: settings.memory_limit,
            log,
        });
        let (stop, stopped) = watch::channel(Stop::Running);
        let (startup, reports) = mpsc::channel(settings.workers.max(1));
        let mut commands = Vec::new();
        let mut tasks = Vec::new();
        for index in 1..=settings.workers.max(1) {
            let (sender, receiver) = mpsc::channel(4);
            commands.push(sender);
            tasks.push(tokio::spawn(slot(
                Arc::clone(&shared),
                index,
                receiver,
                startup.clone(),
                stopped.clone(),
            )));
        }
        let pool = Self {
            shared,
            queue,
            commands,
            stop,
            tasks,
        };
        (pool, reports)
    }

    pub(crate) fn handle(&self) -> PoolHandle {
        PoolHandle {
            shared: Arc::clone(&self.shared),
            queue: self.queue.clone(),
            workers: self.commands.len(),
        }
    }

    /// A function replacing the workers one slot at a time with freshly started ones. It stops
    /// at the first slot whose new worker fails to start, and returns that worker's error; the
    /// remaining slots keep their old workers.
    pub(crate) fn reloader(&self) -> impl Fn() -> ReloadFuture + Send + Sync + 'static {
        let commands = self.commands.clone();
        move || {
            let commands = commands.clone();
            Box::pin(async move {
                for command in &commands {
                    let (reply, done) = oneshot::channel();
                    if command.send(Command::Reload(reply)).await.is_err() {
                        continue;
                    }
                    if let Ok(Err(error)) = done.await {
                        return Err(error);
                    }
                }
                Ok(())
            })
        }
    }

    /// Stops the slots and their workers. Requests still queued are dropped (their clients get
    /// 503), so call it once the HTTP side has drained. With `force`, workers are killed at once
    /// instead of being asked to exit.
    pub(crate) async fn stop(mut self, force: bool) {
        let _ = self
            .stop
            .send(if force { Stop::Force } else { Stop::Graceful });
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

/// A pool dropped without [`Pool::stop`] (the server's future was dropped) kills its workers.
impl Drop for Pool {
    fn drop(&mut self) {
        let _ = self.stop.send(Stop::Force);
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub(crate) type ReloadFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

/// A replacement worker starting, and who waits for it.
type Candidate = (
    JoinHandle<Result<Worker, StartError>>,
    oneshot::Sender<Result<(), String>>,
);

async fn slot(
    shared: Arc<Shared>,
    index: usize,
    mut commands: mpsc::Receiver<Command>,
    startup: mpsc::Sender<Startup>,
    mut stop: watch::Receiver<Stop>,
) {
    let log = &shared.log;
    let first = tokio::select! {
        result = Worker::start(&shared.spec, index, log) => result,
        () = stopped(&mut stop) => return,
    };
    let mut worker = match first {
        Ok(worker) => {
            shared.started(&worker);
            let _ = startup.send(Startup::Ready(worker.info.clone())).await;
            worker
        }
        Err(error) => {
            let _ = startup.send(Startup::Failed(error)).await;
            return;
        }
    };
    drop(startup);
    shared.ready.fetch_add(1, Ordering::Relaxed);
    let mut backoff = Backoff::default();
    let mut candidate: Option<Candidate> = None;

    loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            Some(Command::Reload(reply)) = commands.recv() => {
                if candidate.is_none() {
                    let shared = Arc::clone(&shared);
                    let starting = tokio::spawn(async move {
                        Worker::start(&shared.spec, index, &shared.log).await
                    });
                    candidate = Some((starting, reply));
                } else {
                    let _ = reply.send(Ok(()));
                }
            }
            (result, reply) = finished(&mut candidate) => {
                let outcome = match result {
                    Ok(Ok(new)) => {
                        shared.started(&new);
                        log.info(&new.name, format!("replaces {}", worker.name));
                        let old = std::mem::replace(&mut worker, new);
                        let log = log.clone();
                        tokio::spawn(async move { old.retire(&log).await });
                        Ok(())
                    }
                    Ok(Err(StartError::Init(traceback))) => Err(traceback),
                    Ok(Err(StartError::Spawn(error))) => {
                        let python = shared.spec.python.display();
                        Err(format!("Failed to start `{python}`: {error}"))
                    }
                    Err(error) => Err(error.to_string()),
                };
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
            }
            status = worker.exited() => {
                shared.ready.fetch_sub(1, Ordering::Relaxed);
                log.error(&worker.name, format!("died while idle ({status})"));
                let lived = worker.ready_at.elapsed();
                match replace(&shared, index, &mut stop, &mut backoff, lived).await {
                    Some(new) => worker = new,
                    None => return,
                }
                shared.ready.fetch_add(1, Ordering::Relaxed);
            }
            job = next_job(&shared.queue) => {
                let Some(job) = job else { break };
                if run_job(&shared, &mut worker, job).await {
                    continue;
                }
                shared.ready.fetch_sub(1, Ordering::Relaxed);
                let lived = worker.ready_at.elapsed();
                match replace(&shared, index, &mut stop, &mut backoff, lived).await {
                    Some(new) => worker = new,
                    None => return,
                }
                shared.ready.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    if let Some((starting, reply)) = candidate.take() {
        starting.abort();
        let _ = reply.send(Err("The server is stopping".to_string()));
    }
    shared.ready.fetch_sub(1, Ordering::Relaxed);
    if *stop.borrow() == Stop::Force {
        let status = worker.kill().await;
        log.info(&worker.name, format!("killed ({status})"));
    } else {
        worker.retire(log).await;
    }
}

/// Runs one request on the worker (a stream to its end). When the worker fails (timeout,
/// memory, death), the client gets its error, the worker is killed, and this returns `false`.
async fn run_job(shared: &Shared, worker: &mut Worker, job: Job) -> bool {
    if job.reply.is_closed() {
        // Its client left or its time ran out while it waited.
        return true;
    }
    let deadline = Instant::now() + shared.run_timeout;
    let memory_limit = shared.memory_limit;
    let reply = worker.call(&job.request, deadline, memory_limit).await;
    let failure = match reply {
        Ok(reply) if reply.kind == protocol::STREAM => {
            let Some((head, _)) = protocol::parse_head(&reply.payload) else {
                let _ = job.reply.send(Outcome::WorkerDied);
                return fail(shared, worker, Failure::Broken).await;
            };
            let (sender, chunks) = mpsc::channel(STREAM_BUFFER);
            let _ = job.reply.send(Outcome::Stream { head, chunks });
            match stream(shared, worker, deadline, &sender).await {
                Ok(()) => return true,
                Err(failure) => {
                    let _ = sender.try_send(Err(StreamCut(match failure {
                        Failure::Timeout => "timeout",
                        _ => "the worker failed",
                    })));
                    return fail(shared, worker, failure).await;
                }
            }
        }
        Ok(reply) => match outcome_of(reply, worker, &shared.log) {
            Some(outcome) => {
                let _ = job.reply.send(outcome);
                return true;
            }
            None => Failure::Broken,
        },
        Err(failure) => failure,
    };
    let _ = job.reply.send(match failure {
        Failure::Timeout => Outcome::Timeout,
        Failure::OverMemory(_) => Outcome::OverMemory,
        Failure::Died | Failure::Broken => Outcome::WorkerDied,
    });
    fail(shared, worker, failure).await
}

/// Forwards a stream's chunks to its client until its end, all within `deadline`. A client that
/// left stops getting chunks, but the worker's stream is read to its end.
async fn stream(
    shared: &Shared,
    worker: &mut Worker,
    deadline: Instant,
    sender: &mpsc::Sender<Result<Bytes, StreamCut>>,
) -> Result<(), Failure> {
    let mut listening = true;
    loop {
        let reply = worker.next_reply(deadline, shared.memory_limit).await?;
        match reply.kind {
            protocol::CHUNK => {
                if listening {
                    tokio::select! {
                        sent = sender.send(Ok(Bytes::from(reply.payload))) => listening = sent.is_ok(),
                        () = tokio::time::sleep_until(deadline) => return Err(Failure::Timeout),
                    }
                }
            }
            protocol::END => return Ok(()),
            protocol::RUN_FAILED => {
                shared.log.error(
                    &worker.name,
                    format!(
                        "run()'s stream raised:\n{}",
                        String::from_utf8_lossy(&reply.payload)
                    ),
                );
                let _ = sender.try_send(Err(StreamCut("the scoring script raised")));
                return Ok(());
            }
            _ => return Err(Failure::Broken),
        }
    }
}

/// Kills a failed worker and logs why; always `false` (the slot must replace it).
async fn fail(shared: &Shared, worker: &mut Worker, failure: Failure) -> bool {
    let status = worker.kill().await;
    let message = match failure {
        Failure::Timeout => format!(
            "killed ({status}): run() took longer than {} ms",
            shared.run_timeout.as_millis()
        ),
        Failure::OverMemory(rss) => format!(
            "killed ({status}): its resident set reached {} MiB, over the limit of {} MiB",
            rss >> 20,
            shared.memory_limit.unwrap_or(0) >> 20
        ),
        Failure::Died => format!("died during a request ({status})"),
        Failure::Broken => format!("killed ({status}): it sent a reply that is not a frame"),
    };
    shared.log.error(&worker.name, message);
    false
}

/// The outcome of a reply, or `None` when the worker broke the protocol.
fn outcome_of(reply: Reply, worker: &Worker, log: &Log) -> Option<Outcome> {
    let outcome = match reply.kind {
        protocol::OK => Outcome::Ok {
            body: Bytes::from(reply.payload),
            run_nanos: reply.run_nanos,
        },
        protocol::RESPONSE => {
            let (head, offset) = protocol::parse_head(&reply.payload)?;
            Outcome::Response {
                head,
                body: Bytes::from(reply.payload).slice(offset..),
                run_nanos: reply.run_nanos,
            }
        }
        protocol::REJECTED => Outcome::Rejected(serde_json::from_slice(&reply.payload).ok()?),
        protocol::BAD_INPUT => Outcome::BadInput {
            body: Bytes::from(reply.payload),
        },
        protocol::RUN_FAILED => {
            log.error(
                &worker.name,
                format!("run() raised:\n{}", String::from_utf8_lossy(&reply.payload)),
            );
            Outcome::RunFailed
        }
        protocol::INTERNAL_ERROR => {
            log.error(
                &worker.name,
                format!(
                    "Encountered Exception:\n{}",
                    String::from_utf8_lossy(&reply.payload)
                ),
            );
            Outcome::InternalError
        }
        _ => return None,
    };
    Some(outcome)
}

/// Delays between restarts of a slot whose workers keep failing.
#[derive(Default)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(30);

    fn failed(&mut self) -> Duration {
        let delay = self.next.max(Self::FIRST);
        self.next = (delay * 2).min(Self::MAX);
        delay
    }

    fn reset(&mut self) {
        self.next = Duration::ZERO;
    }
}

/// Starts a replacement worker, retrying with backoff while `init()` fails. `lived` is how long
/// the previous worker served: one that died within a second is restarted only after a delay, so
/// a crashing script cannot spin.
async fn replace(
    shared: &Shared,
    index: usize,
    stop: &mut watch::Receiver<Stop>,
    backoff: &mut Backoff,
    lived: Duration,
) -> Option<Worker> {
    let log = &shared.log;
    let mut delay = if lived < Duration::from_secs(1) {
        Some(backoff.failed())
    } else {
        backoff.reset();
        None
    };
    loop {
        if let Some(delay) = delay.take() {
            log.info(
                "strata-serve",
                format!("restarting worker {index} in {} ms", delay.as_millis()),
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stopped(stop) => return None,
            }
        } else {
            log.info("strata-serve", format!("restarting worker {index}"));
        }
        let result = tokio::select! {
            result = Worker::start(&shared.spec, index, log) => result,
            () = stopped(stop) => return None,
        };
        match result {
            Ok(worker) => {
                shared.started(&worker);
                return Some(worker);
            }
            Err(StartError::Spawn(error)) => log.error(
                "strata-serve",
                format!(
                    "failed to start worker {index} with `{}`: {error}",
                    shared.spec.python.display()
                ),
            ),
            // Already logged with its traceback.
            Err(StartError::Init(_)) => {}
        }
        delay = Some(backoff.failed());
    }
}

async fn next_job(queue: &Mutex<mpsc::Receiver<Job>>) -> Option<Job> {
    queue.lock().await.recv().await
}

async fn finished(
    candidate: &mut Option<Candidate>,
) -> (
    Result<Result<Worker, StartError>, tokio::task::JoinError>,
    Option<oneshot::Sender<Result<(), String>>>,
) {
    match candidate {
        Some((starting, _)) => {
            let result = starting.await;
            (result, candidate.take().map(|(_, reply)| reply))
        }
        None => std::future::pending().await,
    }
}

async fn stopped(stop: &mut watch::Receiver<Stop>) {
    // An error means the pool is gone, which stops the slot too.
    let _ = stop.wait_for(|stop| *stop != Stop::Running).await;
}
