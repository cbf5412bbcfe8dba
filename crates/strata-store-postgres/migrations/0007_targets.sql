-- Compute targets attached to a workspace (Azure ML's compute targets): a kind and the kind's
-- settings, shared by the team; `local` and `container` are built in and not stored.
CREATE TABLE compute_targets (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name         TEXT COLLATE "C" NOT NULL,
    kind         TEXT NOT NULL,
    settings     JSONB NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name)
);
