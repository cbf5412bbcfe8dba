-- The scheduler's side of a run sent to a compute target (its job id, partition, node, the
-- scheduler's state and reason), reported by the machine that submitted it.
CREATE TABLE run_jobs (
    run_seq    BIGINT PRIMARY KEY REFERENCES runs (seq),
    target     TEXT NOT NULL,
    job_id     TEXT,
    resources  JSONB NOT NULL,
    partition  TEXT,
    node       TEXT,
    state      TEXT NOT NULL,
    reason     TEXT,
    updated_at BIGINT NOT NULL
);
