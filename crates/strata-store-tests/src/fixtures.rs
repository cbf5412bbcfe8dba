//! Records to store, and the blob upload the suite does before referencing a blob.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use strata_spec::{Environment, EnvironmentVersion, Lock};
use strata_store::store::{BlobStorage, WorkspaceStore};
use strata_store::{ModelRecord, RunRecord, ServiceConfig, ServiceModel, ServiceRecord};

use crate::BlobGrants;

/// Everything a test of one store implementation holds.
#[derive(Clone)]
pub(crate) struct Subject {
    pub(crate) records: Arc<dyn WorkspaceStore>,
    pub(crate) blobs: Arc<dyn BlobStorage>,
    pub(crate) grants: Arc<dyn BlobGrants>,
    /// Where runs keep their directories (a local store writes run logs there).
    pub(crate) run_root: Arc<tempfile::TempDir>,
}

impl Subject {
    /// A queued run of `env` in a directory of its own.
    pub(crate) fn run(&self, id: &str, experiment: &str, env: &str, queued_at: i64) -> RunRecord {
        run(
            id,
            experiment,
            env,
            queued_at,
            &self.run_root.path().join(id),
        )
    }

    /// Stores `bytes` as a blob the records may reference, as a client does before
    /// recording something that points at it; returns the digest.
    pub(crate) async fn upload(&self, bytes: &[u8]) -> String {
        let digest = digest_of(bytes);
        let file = tempfile::NamedTempFile::new().expect("a temporary file for a blob");
        std::fs::write(file.path(), bytes).expect("writing a blob's bytes");
        self.blobs
            .put_file(&digest, file.path())
            .await
            .unwrap_or_else(|e| panic!("uploading blob `{digest}` failed: {e}"));
        self.grants
            .grant(&digest)
            .await
            .unwrap_or_else(|e| panic!("granting blob `{digest}` failed: {e}"));
        digest
    }
}

pub(crate) fn digest_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A digest no test uploads.
pub(crate) fn absent_digest(tag: &str) -> String {
    digest_of(format!("never uploaded: {tag}").as_bytes())
}

/// A definition of `name` on a base image; different images are different specs.
pub(crate) fn environment(name: &str, image: &str, version: Option<&str>) -> Environment {
    let mut environment = Environment::from_docker_image(name, image, None).0;
    environment.version = version.map(str::to_string);
    environment
}

pub(crate) fn version(text: &str) -> EnvironmentVersion {
    EnvironmentVersion::parse(text).expect("a valid version")
}

/// A lock; different `n` give different lock hashes.
pub(crate) fn lock(n: usize) -> Lock {
    Lock {
        version: strata_spec::LOCK_FORMAT_VERSION,
        platform: "linux-64".to_string(),
        python: None,
        conda: Vec::new(),
        pypi: Vec::new(),
        pip_options: vec![format!("--extra-index-url=https://index.invalid/{n}")],
        user_managed: None,
        base_image: None,
    }
}

fn run(id: &str, experiment: &str, env: &str, queued_at: i64, dir: &std::path::Path) -> RunRecord {
    RunRecord {
        id: id.to_string(),
        experiment: experiment.to_string(),
        status: strata_store::QUEUED.to_string(),
        env_name: env.to_string(),
        env_version: EnvironmentVersion::number(1),
        lock_hash: None,
        script: "train.py".to_string(),
        arguments: vec!["--epochs".to_string(), "3".to_string()],
        source_dir: "/src".to_string(),
        snapshot: None,
        run_dir: dir.display().to_string(),
        outputs: None,
        logs: None,
        exit_code: None,
        error: None,
        supervisor_pid: None,
        supervisor_start: None,
        process_group: None,
        cancel_requested: false,
        queued_at,
        preparing_at: None,
        started_at: None,
        finished_at: None,
        target: "local".to_string(),
        image: None,
    }
}

pub(crate) fn model(name: &str, manifest: &str, run_id: Option<&str>) -> ModelRecord {
    ModelRecord {
        name: name.to_string(),
        version: 0,
        manifest: manifest.to_string(),
        path: "outputs/model".to_string(),
        description: Some("a model".to_string()),
        run_id: run_id.map(str::to_string),
        experiment: Some("exp".to_string()),
        env_name: Some("story".to_string()),
        env_version: Some(EnvironmentVersion::number(1)),
        lock_hash: None,
        created_at: 0,
    }
}

pub(crate) fn service(name: &str, state: &str, model: &ModelRecord) -> ServiceRecord {
    ServiceRecord {
        name: name.to_string(),
        state: state.to_string(),
        host: "127.0.0.1".to_string(),
        port: 8123,
        env_name: "story".to_string(),
        env_version: EnvironmentVersion::number(1),
        lock_hash: None,
        models: vec![ServiceModel {
            name: model.name.clone(),
            version: model.version,
        }],
        entry_script: "score.py".to_string(),
        source_dir: Some("/src".to_string()),
        service_dir: format!("/services/{name}"),
        config: ServiceConfig {
            workers: 2,
            cpu_cores: Some(1.5),
            memory_gb: None,
            timeout_ms: 30_000,
            container: None,
            model_dir: None,
            cors_origins: vec!["https://example.invalid".to_string()],
            health_port: None,
            server_version_header: true,
        },
        pid: None,
        pid_start: None,
        error: None,
        created_at: 0,
        updated_at: 0,
    }
}
