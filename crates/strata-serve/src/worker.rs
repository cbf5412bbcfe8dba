//! One worker process: started with the entry script imported and `init()` called, then asked for
//! one `run()` at a time over its pipes (frames in [`crate::protocol`]). Its stderr, where the
//! script's `print()` output goes too, is copied into the log line by line.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::log::Log;
use crate::protocol::{self, REPLY_HEADER_LEN};

/// How often a busy worker's resident set is compared with the memory limit.
const MEMORY_SAMPLE_INTERVAL: Duration = Duration::from_millis(25);
/// How long a retired worker may take to exit after its stdin closes.
const RETIRE_GRACE: Duration = Duration::from_secs(5);
/// Bodies up to this size are copied into the frame buffer and sent with one write.
const INLINE_BODY: usize = 64 * 1024;
/// Longest stderr line logged as one entry.
const MAX_LINE: u64 = 16 * 1024;
/// Lines of stderr kept to explain a worker that died before its init finished.
const TAIL_LINES: usize = 20;

/// How to start a worker.
#[derive(Debug, Clone)]
pub(crate) struct WorkerSpec {
    pub(crate) python: PathBuf,
    /// The worker script (`_worker.py`).
    pub(crate) script: PathBuf,
    pub(crate) app_root: PathBuf,
    pub(crate) environment: Vec<(OsString, OsString)>,
}

/// Why a worker did not become ready.
#[derive(Debug)]
pub(crate) enum StartError {
    Spawn(std::io::Error),
    /// Import or `init()` failed, or the process died first; the traceback or what is known.
    Init(String),
}

/// Why a request got no reply from its worker. The worker must be killed and replaced.
#[derive(Debug)]
pub(crate) enum Failure {
    Timeout,
    OverMemory(u64),
    /// The pipes broke: the process died.
    Died,
    /// The process wrote something that is not a reply frame.
    Broken,
}

/// How the worker calls `run()`: with the body (plain), with the JSON body's members
/// (`@input_schema`), or with the whole request (`@rawhttp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    #[default]
    Plain,
    Schema,
    Raw,
}

impl Mode {
    /// Whether `run()` is called for requests with this method (the HTTP side answers the others).
    pub(crate) fn runs(self, method: &Method) -> bool {
        match self {
            Self::Plain | Self::Schema => method == Method::GET || method == Method::POST,
            Self::Raw => {
                method == Method::GET
                    || method == Method::POST
                    || method == Method::HEAD
                    || method == Method::OPTIONS
            }
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Self::Plain => 0,
            Self::Schema => 1,
            Self::Raw => 2,
        }
    }

    pub(crate) fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Schema,
            2 => Self::Raw,
            _ => Self::Plain,
        }
    }
}

/// What a started worker said about its script.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScriptInfo {
    pub(crate) mode: Mode,
    /// The inference-schema decorators' `{"input", "output", "versions"}`.
    pub(crate) schema: Option<serde_json::Value>,
}

/// A `/score` request, as a worker needs it.
pub(crate) struct ScoreRequest {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) remote: Option<std::net::SocketAddr>,
}

/// A reply frame.
pub(crate) struct Reply {
    pub(crate) kind: u8,
    pub(crate) run_nanos: u64,
    pub(crate) payload: Vec<u8>,
}

/// A live, ready worker process.
pub(crate) struct Worker {
    pub(crate) name: Arc<str>,
    pid: Option<Pid>,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    wants_headers: bool,
    pub(crate) info: ScriptInfo,
    frame: Vec<u8>,
    headers: String,
    pub(crate) ready_at: Instant,
}

#[derive(serde::Deserialize)]
struct Ready {
    init_ms: f64,
    headers: bool,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    schema: Option<serde_json::Value>,
}

impl Worker {
    /// Starts a worker and waits until its `init()` returned.
    pub(crate) async fn start(
        spec: &WorkerSpec,
        slot: usize,
        log: &Log,
    ) -> Result<Self, StartError> {
        let mut command = Command::new(&spec.python);
        command
            .arg("-u")
            .arg(&spec.script)
            .current_dir(&spec.app_root)
            .envs(spec.environment.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        tracing::debug!(
            "worker: {} -u {} in {}",
            spec.python.display(),
            spec.script.display(),
            spec.app_root.display()
        );
        let mut child = command.spawn().map_err(StartError::Spawn)?;
        let pid = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw);
        let name: Arc<str> = match pid {
            Some(pid) => format!("worker-{slot}[{pid}]").into(),
            None => format!("worker-{slot}").into(),
        };
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(StartError::Spawn(std::io::Error::other("missing pipes")));
        };
        log.info(&name, "started");
        let tail = tokio::spawn(pump(stderr, log.clone(), format!("{name}.output").into()));
        let mut stdout = BufReader::with_capacity(64 * 1024, stdout);

        let first = read_reply(&mut stdout).await;
        let failure = match first {
            Ok(reply) if reply.kind == protocol::READY => {
                match serde_json::from_slice::<Ready>(&reply.payload) {
                    Ok(ready) => {
                        log.info(&name, format!("init() done in {:.1} ms", ready.init_ms));
                        return Ok(Self {
                            name,
                            pid,
                            child,
                            stdin,
                            stdout,
                            wants_headers: ready.headers,
                            info: ScriptInfo {
                                mode: ready.mode,
                                schema: ready.schema,
                            },
                            frame: Vec::with_capacity(INLINE_BODY),
                            headers: String::new(),
                            ready_at: Instant::now(),
                        });
                    }
                    Err(error) => format!("The worker sent an invalid ready message: {error}"),
                }
            }
            Ok(reply) if reply.kind == protocol::INIT_FAILED => {
                String::from_utf8_lossy(&reply.payload).into_owned()
            }
            Ok(reply) => format!(
                "The worker sent an unexpected message of kind `{}` before init() finished",
                char::from(reply.kind)
            ),
            Err(_) => {
                kill_group(pid);
                let status = child.wait().await;
                let tail = tokio::time::timeout(Duration::from_secs(1), tail)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                let mut message = match status {
                    Ok(status) => format!(
                        "The worker exited ({}) before init() finished",
                        describe(status)
                    ),
                    Err(_) => "The worker exited before init() finished".to_string(),
                };
                if !tail.is_empty() {
                    message.push_str("; its last output:\n");
                    message.extend(tail.iter().map(|line| format!("{line}\n")));
                }
                log.error(&name, message.clone());
                return Err(StartError::Init(message));
            }
        };
        log.error(&name, format!("init() failed:\n{failure}"));
        kill_group(pid);
        let _ = child.wait().await;
        Err(StartError::Init(failure))
    }

    /// Sends one request and waits for its first reply until `deadline`, checking the resident
    /// set against `memory_limit` meanwhile.
    pub(crate) async fn call(
        &mut self,
        request: &ScoreRequest,
        deadline: Instant,
        memory_limit: Option<u64>,
    ) -> Result<Reply, Failure> {
        let Self {
            stdin,
            stdout,
            frame,
            headers: headers_text,
            wants_headers,
            pid,
            info,
            ..
        } = self;
        let (kind, payload): (u8, &[u8]) = match (info.mode, &request.method) {
            (Mode::Plain, &Method::POST) => (protocol::KIND_BODY, &request.body),
            (Mode::Plain, &Method::GET) => (
                protocol::KIND_QUERY,
                request.uri.query().unwrap_or("").as_bytes(),
            ),
            (mode, method) if mode.runs(method) => (protocol::KIND_HTTP, &request.body),
            // Only while a reload swaps scripts of different kinds.
            _ => {
                return Ok(Reply {
                    kind: protocol::REJECTED,
                    run_nanos: 0,
                    payload: br#"{"status": 405, "message": "Method not allowed"}"#.to_vec(),
                });
            }
        };
        headers_text.clear();
        if kind == protocol::KIND_HTTP {
            let target = request
                .uri
                .path_and_query()
                .map_or("/score", |target| target.as_str());
            protocol::http_meta(
                headers_text,
                request.method.as_str(),
                target,
                &request.headers,
                request.remote,
            );
        } else if *wants_headers {
            protocol::headers_json(headers_text, &request.headers);
        }
        if headers_text.len() > protocol::MAX_HEADERS_LEN {
            // Too many headers for a frame: the request goes on without them.
            headers_text.clear();
            if kind == protocol::KIND_HTTP {
                protocol::http_meta(
                    headers_text,
                    request.method.as_str(),
                    "/score",
                    &HeaderMap::new(),
                    request.remote,
                );
            } else {
                headers_text.push_str("{}");
            }
        }
        frame.clear();
        protocol::request_header(frame, kind, headers_text.len(), payload.len());
        frame.extend_from_slice(headers_text.as_bytes());
        let inline = payload.len() <= INLINE_BODY;
        if inline {
            frame.extend_from_slice(payload);
        }
        let exchange = async {
            stdin.write_all(frame).await?;
            if !inline {
                stdin.write_all(payload).await?;
            }
            read_reply(stdout).await
        };
        guarded(*pid, memory_limit, deadline, exchange).await
    }

    /// The next reply of a stream, until `deadline`.
    pub(crate) async fn next_reply(
        &mut self,
        deadline: Instant,
        memory_limit: Option<u64>,
    ) -> Result<Reply, Failure> {
        let pid = self.pid;
        guarded(pid, memory_limit, deadline, read_reply(&mut self.stdout)).await
    }

    /// Waits until the process exits by itself (it should not while idle).
    pub(crate) async fn exited(&mut self) -> String {
        let status = self.child.wait().await;
        kill_group(self.pid);
        status.map_or_else(|error| error.to_string(), describe)
    }

    /// Kills the process and everything it started, and reaps it.
    pub(crate) async fn kill(&mut self) -> String {
        kill_group(self.pid);
        let status = self.child.wait().await;
        status.map_or_else(|error| error.to_string(), describe)
    }

    /// Closes its stdin so it exits by itself; kills it if it has not after a grace period.
    pub(crate) async fn retire(self, log: &Log) {
        let Self {
            name,
            pid,
            mut child,
            stdin,
            ..
        } = self;
        drop(stdin);
        if tokio::time::timeout(RETIRE_GRACE, child.wait())
            .await
            .is_ok()
        {
            log.info(&name, "stopped");
        } else {
            kill_group(pid);
            let _ = child.wait().await;
            log.warn(
                &name,
                "killed: it did not exit within 5 s of being asked to",
            );
        }
        // Whatever it left in its group goes with it.
        kill_group(pid);
    }
}

/// Waits for `work` until `deadline`, sampling the resident set of `pid` against `memory_limit`.
async fn guarded<T>(
    pid: Option<Pid>,
    memory_limit: Option<u64>,
    deadline: Instant,
    work: impl Future<Output = std::io::Result<T>>,
) -> Result<T, Failure> {
    tokio::pin!(work);
    let mut sampler = memory_limit.map(|_| {
        let mut interval = tokio::time::interval_at(
            Instant::now() + MEMORY_SAMPLE_INTERVAL,
            MEMORY_SAMPLE_INTERVAL,
        );
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
    loop {
        tokio::select! {
            result = &mut work => return result.map_err(|_| Failure::Died),
            () = tokio::time::sleep_until(deadline) => return Err(Failure::Timeout),
            () = tick(&mut sampler) => {
                if let Some(limit) = memory_limit
                    && let Some(rss) = pid.and_then(resident_bytes)
                    && rss > limit
                {
                    return Err(Failure::OverMemory(rss));
                }
            }
        }
    }
}

async fn tick(sampler: &mut Option<Interval>) {
    match sampler {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn read_reply<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Reply> {
    let mut header = [0u8; REPLY_HEADER_LEN];
    reader.read_exact(&mut header).await?;
    let (kind, run_nanos, length) = protocol::parse_reply_header(&header);
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload).await?;
    Ok(Reply {
        kind,
        run_nanos,
        payload,
    })
}

/// Copies a worker's stderr into the log, line by line; returns its last lines. A line longer
/// than 16 KiB is logged cut, and the rest of it is read and dropped: a huge `print()` costs
/// neither memory nor log space.
async fn pump(stderr: ChildStderr, log: Log, source: Arc<str>) -> VecDeque<String> {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return tail,
            Ok(read) => {
                let text = String::from_utf8_lossy(&line);
                let mut text = text.trim_end_matches(['\n', '\r']).to_string();
                if !line.ends_with(b"\n") && read as u64 == MAX_LINE {
                    let dropped = skip_line(&mut reader).await;
                    if dropped > 0 {
                        text.push_str(&format!(" [line cut: {dropped} more bytes not logged]"));
                    }
                }
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(text.clone());
                log.info(&source, text);
            }
        }
    }
}

/// Reads and drops the rest of a line; returns how many bytes it had (without the newline).
async fn skip_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> u64 {
    let mut dropped = 0u64;
    loop {
        let Ok(buffer) = reader.fill_buf().await else {
            return dropped;
        };
        if buffer.is_empty() {
            return dropped;
        }
        if let Some(end) = buffer.iter().position(|&byte| byte == b'\n') {
            dropped += end as u64;
            reader.consume(end + 1);
            return dropped;
        }
        let length = buffer.len();
        dropped += length as u64;
        reader.consume(length);
    }
}

fn kill_group(pid: Option<Pid>) {
    if let Some(pid) = pid {
        let _ = killpg(pid, Signal::SIGKILL);
    }
}

/// `exit code 1`, `killed by signal 9`.
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The resident set of a process, from `/proc/PID/status`.
fn resident_bytes(pid: Pid) -> Option<u64> {
    let status = fs_err::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_set_of_this_process() {
        let pid = Pid::from_raw(i32::try_from(std::process::id()).unwrap());
        let rss = resident_bytes(pid).unwrap();
        assert!(rss > 1024 * 1024, "{rss}");
    }
}
