-- The team server's records: the same logical schema as a SQLite workspace, one set of rows per
-- workspace, plus what only a server keeps (users, tokens, members, blob grants, the audit log).
--
-- Names and keys that lists sort or page by are COLLATE "C": byte order, as SQLite compares
-- text, so both stores list in one order and keyset cursors compare the way the sort does.
-- Times are milliseconds since the Unix epoch (BIGINT), as in SQLite. Documents (definitions,
-- locks, configurations) are `json`, which keeps their text exactly as written.

CREATE TABLE users (
    name       TEXT COLLATE "C" PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE workspaces (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE workspace_members (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    user_name    TEXT COLLATE "C" NOT NULL REFERENCES users (name),
    role         TEXT NOT NULL CHECK (role IN ('reader', 'contributor', 'owner')),
    PRIMARY KEY (workspace_id, user_name)
);
CREATE INDEX workspace_members_by_user ON workspace_members (user_name);

-- Only the SHA-256 of a token is stored; the token itself is shown once, by whoever made it.
CREATE TABLE tokens (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    token_hash   TEXT NOT NULL UNIQUE,
    user_name    TEXT COLLATE "C" NOT NULL REFERENCES users (name),
    workspace_id BIGINT REFERENCES workspaces (id),
    role         TEXT CHECK (role IN ('reader', 'contributor', 'owner')),
    admin        BOOLEAN NOT NULL DEFAULT FALSE,
    description  TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

-- Append-only: rows are written in the transaction of the change they describe, never updated.
CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    user_name  TEXT NOT NULL,
    token_id   TEXT,
    workspace  TEXT COLLATE "C",
    action     TEXT NOT NULL,
    resource   TEXT NOT NULL,
    request_id TEXT
);
CREATE INDEX audit_events_by_workspace ON audit_events (workspace, id);
CREATE INDEX audit_events_by_user ON audit_events (user_name, id);

-- Which workspaces reference a blob: records may point only at blobs granted to their
-- workspace, and only its readers may download them.
CREATE TABLE blob_grants (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    digest       TEXT NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, digest)
);

-- One row per versioned name (kind `environment` or `model`): registrations of a name lock it
-- first, so concurrent ones take turns and get consecutive versions.
CREATE TABLE name_locks (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    kind         TEXT NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, kind, name)
);

CREATE TABLE environments (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name         TEXT COLLATE "C" NOT NULL,
    version      TEXT COLLATE "C" NOT NULL,
    spec_hash    TEXT NOT NULL,
    definition   JSON NOT NULL,
    kind         TEXT NOT NULL,
    description  TEXT,
    curated      BOOLEAN NOT NULL DEFAULT FALSE,
    anonymous    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL,
    UNIQUE (workspace_id, name, version)
);
CREATE INDEX environments_by_name ON environments (workspace_id, name, id);

-- One lock per environment version, immutable: the first writer wins.
CREATE TABLE locks (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name         TEXT COLLATE "C" NOT NULL,
    version      TEXT COLLATE "C" NOT NULL,
    lock_hash    TEXT NOT NULL,
    lock         JSON NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name, version)
);
CREATE INDEX locks_by_hash ON locks (lock_hash);

CREATE TABLE builds (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name         TEXT COLLATE "C" NOT NULL,
    version      TEXT COLLATE "C" NOT NULL,
    lock_hash    TEXT,
    status       TEXT NOT NULL,
    prefix       TEXT,
    log_digest   TEXT,
    error        TEXT,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL
);
CREATE INDEX builds_by_environment ON builds (workspace_id, name, version, id);

CREATE TABLE runs (
    seq              BIGSERIAL PRIMARY KEY,
    workspace_id     BIGINT NOT NULL REFERENCES workspaces (id),
    id               TEXT COLLATE "C" NOT NULL,
    experiment       TEXT COLLATE "C" NOT NULL,
    status           TEXT NOT NULL,
    env_name         TEXT NOT NULL,
    env_version      TEXT NOT NULL,
    lock_hash        TEXT,
    script           TEXT NOT NULL,
    arguments        JSON NOT NULL,
    source_dir       TEXT NOT NULL,
    snapshot         TEXT,
    run_dir          TEXT NOT NULL,
    outputs          TEXT,
    logs             TEXT,
    exit_code        BIGINT,
    error            TEXT,
    supervisor_pid   BIGINT,
    supervisor_start TEXT,
    process_group    BIGINT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    queued_at        BIGINT NOT NULL,
    preparing_at     BIGINT,
    started_at       BIGINT,
    finished_at      BIGINT,
    target           TEXT NOT NULL DEFAULT 'local',
    image            TEXT,
    UNIQUE (workspace_id, id)
);
CREATE INDEX runs_by_queued ON runs (workspace_id, queued_at, seq);

CREATE TABLE run_metrics (
    run_seq   BIGINT NOT NULL REFERENCES runs (seq),
    seq       BIGINT NOT NULL,
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    value     JSON NOT NULL,
    logged_at BIGINT NOT NULL,
    PRIMARY KEY (run_seq, seq)
);

CREATE TABLE run_tags (
    run_seq BIGINT NOT NULL REFERENCES runs (seq),
    key     TEXT COLLATE "C" NOT NULL,
    value   TEXT,
    PRIMARY KEY (run_seq, key)
);

-- A run's combined log as appended: each chunk at its byte offset (bytes, since a log may hold
-- any byte a program printed, NUL included).
CREATE TABLE run_log_chunks (
    run_seq BIGINT NOT NULL REFERENCES runs (seq),
    "offset" BIGINT NOT NULL,
    bytes   BYTEA NOT NULL,
    PRIMARY KEY (run_seq, "offset")
);

CREATE TABLE models (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name         TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    manifest     TEXT NOT NULL,
    path         TEXT NOT NULL,
    description  TEXT,
    run_id       TEXT,
    experiment   TEXT,
    env_name     TEXT,
    env_version  TEXT,
    lock_hash    TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name, version)
);

CREATE TABLE services (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name         TEXT COLLATE "C" NOT NULL,
    state        TEXT NOT NULL,
    host         TEXT NOT NULL,
    port         INTEGER NOT NULL,
    env_name     TEXT NOT NULL,
    env_version  TEXT NOT NULL,
    lock_hash    TEXT,
    models       JSON NOT NULL,
    entry_script TEXT NOT NULL,
    source_dir   TEXT,
    service_dir  TEXT NOT NULL,
    config       JSON NOT NULL,
    pid          BIGINT,
    pid_start    TEXT,
    error        TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name)
);
