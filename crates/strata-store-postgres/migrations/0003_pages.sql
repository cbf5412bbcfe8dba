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

-- The last value of each scalar metric of a finished run, with the run's workspace and
-- experiment (which never change), so a run list sorted by a metric walks one index in the
-- metric's order instead of looking up every run's value. Written when a run finishes (and
-- for a batch that arrives after that), not on every batch: concurrent batches of one run
-- would all wait on its rows.
CREATE TABLE run_metric_last (
    run_seq      BIGINT NOT NULL REFERENCES runs (seq),
    name         TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    value        DOUBLE PRECISION,
    workspace_id BIGINT NOT NULL,
    experiment   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_seq, name)
);
CREATE INDEX run_metric_last_by_value
    ON run_metric_last (workspace_id, experiment, name, value, run_seq)
    WHERE value IS NOT NULL;

INSERT INTO run_metric_last (run_seq, name, seq, value, workspace_id, experiment)
SELECT DISTINCT ON (m.run_seq, m.name) m.run_seq, m.name, m.seq,
       CASE WHEN json_typeof(m.value) = 'number' THEN m.value::text::float8 END,
       r.workspace_id, r.experiment
FROM run_metrics m JOIN runs r ON r.seq = m.run_seq
WHERE m.kind = 'scalar' AND r.finished_at IS NOT NULL
ORDER BY m.run_seq, m.name, m.seq DESC;
