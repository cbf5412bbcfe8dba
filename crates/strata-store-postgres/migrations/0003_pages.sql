-- The server's pages: signed-in browser sessions, and the indexes their lists read by.
--
-- A session cookie holds a random secret; only its SHA-256 is stored. A session belongs to one
-- workspace and one token, and ends at its own expiry or when the token is revoked or expires.
CREATE TABLE ui_sessions (
    session_hash TEXT PRIMARY KEY,
    token_seq    BIGINT NOT NULL REFERENCES tokens (seq),
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX ui_sessions_by_expiry ON ui_sessions (expires_at);

CREATE INDEX runs_by_experiment ON runs (workspace_id, experiment, queued_at, seq);
CREATE INDEX runs_by_environment ON runs (workspace_id, env_name, env_version, queued_at);
CREATE INDEX models_by_environment ON models (workspace_id, env_name, env_version);
CREATE INDEX models_by_run ON models (workspace_id, run_id);
CREATE INDEX services_by_environment ON services (workspace_id, env_name, env_version);
