//! The server under test, its app roots and a hand-written HTTP/1.1 client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_serve::{LogSink, ServeConfig, ServeError};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

pub(crate) fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            // The real interpreter, not a pyenv shim: workers start faster.
            let output = std::process::Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .expect("python3 on PATH");
            PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
        })
        .clone()
}

/// The interpreter of the virtual environment with inference-schema, numpy and pandas that
/// `scripts/setup-test-tools` makes (`$STRATA_TEST_SERVING_VENV`, by default
/// `~/.cache/strata-test-python/serving`).
pub(crate) fn serving_python() -> PathBuf {
    let venv = std::env::var_os("STRATA_TEST_SERVING_VENV").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/strata-test-python/serving")
        },
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-test-tools (it makes a virtual environment with \
         inference-schema, numpy and pandas for these tests)",
        python.display()
    );
    python
}

pub(crate) fn python_package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python")
}

/// An app root holding `score.py`.
pub(crate) struct App {
    pub(crate) dir: tempfile::TempDir,
}

impl App {
    pub(crate) fn new(script: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("score.py"), script).unwrap();
        Self { dir }
    }

    /// An app root with more files (relative path, contents).
    pub(crate) fn with_files(script: &str, files: &[(&str, &[u8])]) -> Self {
        let app = Self::new(script);
        for (name, contents) in files {
            fs_err::write(app.path().join(name), contents).unwrap();
        }
        app
    }

    /// The configuration with the inference-schema environment's interpreter.
    pub(crate) fn serving_config(&self) -> ServeConfig {
        let mut config = self.config();
        config.python = serving_python();
        config
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn config(&self) -> ServeConfig {
        let mut config = ServeConfig::new(python(), self.path(), "score.py");
        config.python_path = vec![python_package_dir()];
        config.request_timeout = Duration::from_secs(20);
        config
    }
}

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) log: Arc<Mutex<String>>,
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) reload: Arc<Notify>,
    pub(crate) task: JoinHandle<Result<(), ServeError>>,
}

impl Server {
    pub(crate) async fn start(config: ServeConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(config, strata_serve::Listeners::from(listener)).await
    }

    /// Started on the given listeners.
    pub(crate) async fn start_on(config: ServeConfig, listeners: strata_serve::Listeners) -> Self {
        let listener = listeners;
        let addr = listener.main.local_addr().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let kept = Arc::clone(&log);
        let sink: LogSink = Arc::new(move |lines: &str| kept.lock().unwrap().push_str(lines));
        let (stop, stopped) = oneshot::channel::<()>();
        let reload = Arc::new(Notify::new());
        let task = tokio::spawn(strata_serve::serve(
            config,
            listener,
            sink,
            async move {
                let _ = stopped.await;
            },
            Arc::clone(&reload),
        ));
        Self {
            addr,
            log,
            stop: Some(stop),
            reload,
            task,
        }
    }

    /// Started, with every worker done with init().
    pub(crate) async fn ready(config: ServeConfig) -> Self {
        let server = Self::start(config).await;
        server.wait_ready().await;
        server
    }

    pub(crate) async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(reply) = request(self.addr, "GET", "/health/ready", &[], b"").await
                && reply.status == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not ready; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn log_text(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` (the log thread writes asynchronously).
    pub(crate) async fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.log_text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{needle}` not in the log:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn stop(mut self) -> (Result<(), ServeError>, String) {
        let _ = self.stop.take().unwrap().send(());
        let result = tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the server stops")
            .unwrap();
        let log = self.log_text();
        (result, log)
    }

    pub(crate) async fn post(&self, body: &str) -> Reply {
        request(self.addr, "POST", "/score", &[], body.as_bytes())
            .await
            .unwrap()
    }
}

/// A response as read off the wire.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(name, _)| name.to_ascii_lowercase())
            .collect()
    }
}

/// A keep-alive HTTP/1.1 connection with hand-written requests.
pub(crate) struct Client {
    pub(crate) stream: BufReader<TcpStream>,
}

impl Client {
    pub(crate) async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            stream: BufReader::new(TcpStream::connect(addr).await?),
        })
    }

    pub(crate) async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Reply> {
        let mut reply = self.send_head(method, path, headers, body).await?;
        if method == "HEAD" {
            return Ok(reply);
        }
        if reply
            .header("transfer-encoding")
            .is_some_and(|value| value.eq_ignore_ascii_case("chunked"))
        {
            while let Some(chunk) = self.next_chunk().await? {
                reply.body.extend_from_slice(&chunk);
            }
            return Ok(reply);
        }
        let length: usize = reply
            .header("content-length")
            .map_or(0, |value| value.parse().unwrap());
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        reply.body = body;
        Ok(reply)
    }

    /// Sends a request and reads the status line and headers of its response, not the body.
    pub(crate) async fn send_head(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Reply> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.get_mut().write_all(&bytes).await?;

        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (name, value) = trimmed.split_once(':').unwrap();
            headers.push((name.to_string(), value.trim().to_string()));
        }
        Ok(Reply {
            status,
            headers,
            body: Vec::new(),
        })
    }

    /// The next chunk of a chunked body; `None` after the last. A connection closed before the
    /// last chunk is an error.
    pub(crate) async fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let size = usize::from_str_radix(line.trim_end().split(';').next().unwrap(), 16)
            .map_err(|_| std::io::Error::other(format!("bad chunk size line {line:?}")))?;
        let mut chunk = vec![0; size + 2];
        self.stream.read_exact(&mut chunk).await?;
        chunk.truncate(size);
        if size == 0 {
            return Ok(None);
        }
        Ok(Some(chunk))
    }
}

pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    Client::connect(addr)
        .await?
        .send(method, path, headers, body)
        .await
}
