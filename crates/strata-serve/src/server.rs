//! Starting and stopping: the worker pool, the listener, graceful shutdown and reload.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinSet;

use crate::config::ServeConfig;
use crate::error::ServeError;
use crate::http::{self, AppState, HttpSettings, ServiceInfo, Swagger};
use crate::log::{Log, LogSink, Logger};
use crate::pool::{Pool, PoolSettings, Startup};
use crate::worker::{StartError, WorkerSpec};

/// The server's version, sent as `x-ms-server-version: strata/<version>`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The worker (`python/strata/_worker.py`); each server writes it into a private temporary
/// directory and starts it as `python -u _worker.py`.
pub const WORKER_SCRIPT: &str = include_str!("../../../python/strata/_worker.py");

/// The worker's companions, written next to it: `azureml.contrib.services.aml_request` and
/// `aml_response` as the worker provides them.
const WORKER_MODULES: [(&str, &str); 2] = [
    (
        "_aml_request.py",
        include_str!("../../../python/strata/_aml_request.py"),
    ),
    (
        "_aml_response.py",
        include_str!("../../../python/strata/_aml_response.py"),
    ),
];

/// Where the server accepts connections: the scoring port and, optionally, a separate health
/// port (azmlinfsrv's `HEALTH_PORT`), which serves the same routes.
pub struct Listeners {
    pub main: TcpListener,
    pub health: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(main: TcpListener) -> Self {
        Self { main, health: None }
    }
}

/// Longest wait for in-flight requests at shutdown (gunicorn's graceful timeout), and never longer
/// than the request timeout.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

const SOURCE: &str = "strata-serve";
/// The log line written when a reload finished: every worker runs the new entry script.
pub const RELOADED: &str = "reloaded: every worker runs the entry script afresh";
/// The log line written when a reload stopped because a new worker failed to start.
pub const RELOAD_STOPPED: &str = "reload stopped: a new worker failed to start (see its traceback \
    above); the workers not yet replaced keep serving";

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish (up to
/// the request timeout, at most 30 s) and stops the workers. Each `reload.notify_one()` replaces
/// the workers, one at a time, with new processes that import the entry script afresh; when a new
/// worker fails to start, the remaining old ones keep serving.
///
/// The listener accepts at once: until every worker finished `init()`, `/health/ready` answers
/// 503 and requests wait in the queue. If a worker fails to start, the traceback goes to the log
/// and this returns [`ServeError::InitFailed`].
///
/// # Errors
///
/// [`ServeError::InitFailed`] when a worker fails to start; a configuration error
/// (`EntryScriptNotFound`, `InvalidConfig`), or `Spawn` when the interpreter cannot be started.
pub async fn serve(
    config: ServeConfig,
    listener: impl Into<Listeners>,
    log: LogSink,
    shutdown: impl Future<Output = ()> + Send + 'static,
    reload: Arc<Notify>,
) -> Result<(), ServeError> {
    serve_with(
        config,
        listener.into(),
        log,
        shutdown,
        std::future::pending(),
        reload,
    )
    .await
}

/// Binds `addr` (and the health port of the configuration, on the same address) and serves on a
/// runtime of its own until SIGINT or SIGTERM (a second one stops at once, killing the workers);
/// SIGHUP reloads the workers. Blocks until the server stopped.
///
/// # Errors
///
/// Those of [`serve`], and [`ServeError::Bind`] when an address cannot be bound.
pub fn run(config: ServeConfig, addr: SocketAddr, log: LogSink) -> Result<(), ServeError> {
    let threads = std::thread::available_parallelism()
        .map_or(2, NonZeroUsize::get)
        .clamp(1, 4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("strata-serve")
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let main = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let health = match config.health_port {
            Some(port) => {
                let addr = SocketAddr::new(addr.ip(), port);
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| ServeError::Bind { addr, source })?,
                )
            }
            None => None,
        };
        let listener = Listeners { main, health };
        let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Runtime)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Runtime)?;
        let mut hangup = signal(SignalKind::hangup()).map_err(ServeError::Runtime)?;
        let reload = Arc::new(Notify::new());
        let (first, first_received) = oneshot::channel::<()>();
        let (second, second_received) = oneshot::channel::<()>();
        let watcher = tokio::spawn({
            let reload = Arc::clone(&reload);
            async move {
                let mut senders = [Some(first), Some(second)].into_iter().flatten();
                loop {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                        _ = hangup.recv() => {
                            reload.notify_one();
                            continue;
                        }
                    }
                    match senders.next() {
                        Some(sender) => {
                            let _ = sender.send(());
                        }
                        None => return,
                    }
                }
            }
        });
        let shutdown = async move {
            let _ = first_received.await;
        };
        let force = async move {
            if second_received.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let result = serve_with(config, listener, log, shutdown, force, reload).await;
        watcher.abort();
        result
    })
}

async fn serve_with(
    config: ServeConfig,
    listener: Listeners,
    sink: LogSink,
    shutdown: impl Future<Output = ()> + Send + 'static,
    force: impl Future<Output = ()> + Send + 'static,
    reload: Arc<Notify>,
) -> Result<(), ServeError> {
    let logger = Logger::start(sink);
    let log = logger.log();
    let result = serve_logged(config, listener, &log, shutdown, force, reload).await;
    match &result {
        Ok(()) => log.info(SOURCE, "stopped"),
        Err(ServeError::InitFailed { .. }) => {
            log.error(SOURCE, "stopped: a worker failed to start");
        }
        Err(error) => log.error(SOURCE, format!("stopped: {error}")),
    }
    drop(log);
    let _ = tokio::task::spawn_blocking(move || logger.close()).await;
    result
}

async fn serve_logged(
    config: ServeConfig,
    listeners: Listeners,
    log: &Log,
    shutdown: impl Future<Output = ()> + Send + 'static,
    force: impl Future<Output = ()> + Send + 'static,
    reload: Arc<Notify>,
) -> Result<(), ServeError> {
    if config.workers == 0 {
        return Err(ServeError::InvalidConfig {
            message: "`workers` must be at least 1".to_string(),
        });
    }
    let app_root =
        std::path::absolute(&config.app_root).map_err(ServeError::io(&config.app_root))?;
    let entry_script = app_root.join(&config.entry_script);
    if !entry_script.is_file() {
        return Err(ServeError::EntryScriptNotFound { path: entry_script });
    }
    // Removed when the server stops.
    let directory = tempfile::Builder::new()
        .prefix("strata-serve-")
        .tempdir()
        .map_err(ServeError::io(std::env::temp_dir()))?;
    let script = directory.path().join("_worker.py");
    fs_err::write(&script, WORKER_SCRIPT).map_err(ServeError::io(&script))?;
    for (name, text) in WORKER_MODULES {
        let path = directory.path().join(name);
        fs_err::write(&path, text).map_err(ServeError::io(&path))?;
    }
    let spec = worker_spec(&config, &app_root, &entry_script, script)?;
    let info = service_info(&config);
    let swagger = Swagger::load(&app_root, &info, None, log);
    let Listeners {
        main: listener,
        health,
    } = listeners;

    if let Ok(address) = listener.local_addr() {
        log.info(
            SOURCE,
            format!(
                "strata/{VERSION} listening on http://{address}; starting {} worker(s) for {}",
                config.workers,
                entry_script.display()
            ),
        );
    }
    if let Some(address) = health.as_ref().and_then(|health| health.local_addr().ok()) {
        log.info(SOURCE, format!("health port: http://{address}/"));
    }

    let settings = PoolSettings {
        workers: config.workers,
        queue_capacity: config.queue_capacity,
        run_timeout: config.request_timeout,
        memory_limit: config.memory_limit_bytes,
    };
    let (pool, mut startup) = Pool::start(spec, &settings, log.clone());
    let settings = HttpSettings {
        request_timeout: config.request_timeout,
        max_body_bytes: config.max_body_bytes,
        server_version_header: config.server_version_header,
        cors_origins: config.cors_origins.clone(),
    };
    let state = Arc::new(AppState::new(
        pool.handle(),
        &settings,
        swagger,
        log.clone(),
    ));

    let reloader = pool.reloader();
    let reload_task = AbortOnDrop(tokio::spawn({
        let state = Arc::clone(&state);
        let log = log.clone();
        let app_root = app_root.clone();
        async move {
            loop {
                reload.notified().await;
                log.info(SOURCE, "reloading: starting new workers one at a time");
                let result = reloader().await;
                let script = state.pool.info();
                let swagger = Swagger::load(&app_root, &info, script.schema.as_ref(), &log);
                if let Ok(mut documents) = state.swagger.write() {
                    *documents = Arc::new(swagger);
                }
                match result {
                    Ok(()) => log.info(SOURCE, RELOADED),
                    Err(_) => log.error(SOURCE, RELOAD_STOPPED),
                }
            }
        }
    }));
    let info = service_info(&config);

    let (closing, _) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut starting = config.workers;
    let mut failure = None;
    tokio::pin!(shutdown);
    tokio::pin!(force);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            report = startup.recv(), if starting > 0 => match report {
                Some(Startup::Ready(script)) => {
                    if starting == config.workers && script.schema.is_some() {
                        let swagger = Swagger::load(&app_root, &info, script.schema.as_ref(), log);
                        if let Ok(mut documents) = state.swagger.write() {
                            *documents = Arc::new(swagger);
                        }
                    }
                    starting -= 1;
                    if starting == 0 {
                        let workers = config.workers;
                        log.info(SOURCE, format!("ready: {workers} worker(s) finished init()"));
                    }
                }
                Some(Startup::Failed(error)) => {
                    failure = Some(error);
                    break;
                }
                None => starting = 0,
            },
            accepted = accept(&listener, health.as_ref()) => match accepted {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, remote, Arc::clone(&state), closing.subscribe()));
                }
                Err(error) => {
                    log.warn(SOURCE, format!("accepting a connection failed: {error}"));
                    // Out of file descriptors, most likely: let connections finish.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    drop(health);
    drop(reload_task);

    if let Some(error) = failure {
        connections.abort_all();
        pool.stop(true).await;
        return Err(match error {
            StartError::Init(traceback) => ServeError::InitFailed { traceback },
            StartError::Spawn(source) => ServeError::Spawn {
                program: config.python,
                source,
            },
        });
    }

    log.info(
        SOURCE,
        format!(
            "shutting down: finishing the requests of {} open connection(s)",
            connections.len()
        ),
    );
    let _ = closing.send(true);
    let limit = (config.request_timeout + Duration::from_secs(1)).min(DRAIN_LIMIT);
    let forced = tokio::select! {
        () = async { while connections.join_next().await.is_some() {} } => false,
        () = &mut force => true,
        () = tokio::time::sleep(limit) => true,
    };
    if forced {
        log.warn(
            SOURCE,
            "stopping without waiting for the remaining requests",
        );
        connections.abort_all();
    }
    pool.stop(forced).await;
    drop(directory);
    Ok(())
}

/// A task that ends with its owner.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The next connection on either listener.
async fn accept(
    main: &TcpListener,
    health: Option<&TcpListener>,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    match health {
        Some(health) => tokio::select! {
            accepted = main.accept() => accepted,
            accepted = health.accept() => accepted,
        },
        None => main.accept().await,
    }
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    state: Arc<AppState>,
    mut closing: watch::Receiver<bool>,
) {
    let service =
        service_fn(move |request| http::service(Arc::clone(&state), request, Some(remote)));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = closing.wait_for(|closing| *closing) => {}
    }
    // Finishes the request in progress, if any, then closes.
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

fn worker_spec(
    config: &ServeConfig,
    app_root: &Path,
    entry_script: &Path,
    script: PathBuf,
) -> Result<WorkerSpec, ServeError> {
    let mut environment: Vec<(OsString, OsString)> = config
        .environment
        .iter()
        .map(|(key, value)| (OsString::from(key), OsString::from(value)))
        .collect();
    let mut python_path = Vec::new();
    for entry in &config.python_path {
        python_path.push(std::path::absolute(entry).map_err(ServeError::io(entry))?);
    }
    let existing = config
        .environment
        .get("PYTHONPATH")
        .map(OsString::from)
        .or_else(|| std::env::var_os("PYTHONPATH"))
        .filter(|existing| !existing.is_empty());
    let mut joined =
        std::env::join_paths(&python_path).map_err(|error| ServeError::InvalidConfig {
            message: format!("a `python_path` entry cannot go on PYTHONPATH: {error}"),
        })?;
    if let Some(existing) = existing {
        if !joined.is_empty() {
            joined.push(":");
        }
        joined.push(existing);
    }
    environment.retain(|(key, _)| key != "PYTHONPATH");
    if !joined.is_empty() {
        environment.push(("PYTHONPATH".into(), joined));
    }
    environment.push(("AML_APP_ROOT".into(), app_root.into()));
    environment.push(("AZUREML_ENTRY_SCRIPT".into(), entry_script.into()));
    match &config.source_directory {
        Some(directory) => environment.push(("AZUREML_SOURCE_DIRECTORY".into(), directory.into())),
        None => environment.push(("AZUREML_SOURCE_DIRECTORY".into(), OsString::new())),
    }
    if let Some(model_dir) = &config.model_dir {
        let model_dir = std::path::absolute(model_dir).map_err(ServeError::io(model_dir))?;
        environment.push(("AZUREML_MODEL_DIR".into(), model_dir.into()));
    }
    Ok(WorkerSpec {
        python: config.python.clone(),
        script,
        app_root: app_root.to_path_buf(),
        environment,
    })
}

/// `SERVICE_NAME`, `SERVICE_VERSION` and `SERVICE_PATH_PREFIX`, from the workers' environment or
/// the server's, for the swagger documents.
fn service_info(config: &ServeConfig) -> ServiceInfo {
    let lookup = |key: &str| {
        config
            .environment
            .get(key)
            .cloned()
            .or_else(|| std::env::var(key).ok())
    };
    let defaults = ServiceInfo::default();
    ServiceInfo {
        name: lookup("SERVICE_NAME").unwrap_or(defaults.name),
        version: lookup("SERVICE_VERSION").unwrap_or(defaults.version),
        path_prefix: lookup("SERVICE_PATH_PREFIX").unwrap_or(defaults.path_prefix),
    }
}
