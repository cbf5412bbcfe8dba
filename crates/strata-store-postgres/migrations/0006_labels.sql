-- Environment labels (Azure ML's `Environment.label`): a label names one version of an
-- environment and moves when another version is labelled.
CREATE TABLE environment_labels (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name         TEXT COLLATE "C" NOT NULL,
    label        TEXT COLLATE "C" NOT NULL,
    version      TEXT COLLATE "C" NOT NULL,
    labelled_at  BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name, label)
);
