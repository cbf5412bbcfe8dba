-- The index of locked packages (what `env search` reads): one row per package of every lock,
-- written in the lock's transaction. Names are normalised as the embedded store does: PEP 503
-- for PyPI (runs of `-`, `_`, `.` become one `-`, none at the ends, lower case), lower case for conda; a
-- user-managed lock contributes its `pip freeze` lines of the form `NAME==VERSION`.
CREATE TABLE locked_packages (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    ecosystem    TEXT NOT NULL,
    package      TEXT COLLATE "C" NOT NULL,
    env_name     TEXT COLLATE "C" NOT NULL,
    env_version  TEXT COLLATE "C" NOT NULL,
    version      TEXT NOT NULL,
    build        TEXT,
    PRIMARY KEY (workspace_id, ecosystem, package, env_name, env_version)
);

-- Locks stored before the index existed.
INSERT INTO locked_packages (workspace_id, ecosystem, package, env_name, env_version, version, build)
SELECT l.workspace_id, 'conda', lower(p ->> 'name'), l.name, l.version, p ->> 'version', p ->> 'build'
FROM locks l, json_array_elements(CASE WHEN json_typeof(l.lock -> 'conda') = 'array' THEN l.lock -> 'conda' ELSE '[]'::json END) p
ON CONFLICT DO NOTHING;
INSERT INTO locked_packages (workspace_id, ecosystem, package, env_name, env_version, version, build)
SELECT l.workspace_id, 'pypi', btrim(lower(regexp_replace(p ->> 'name', '[-_.]+', '-', 'g')), '-'), l.name, l.version, p ->> 'version', NULL
FROM locks l, json_array_elements(CASE WHEN json_typeof(l.lock -> 'pypi') = 'array' THEN l.lock -> 'pypi' ELSE '[]'::json END) p
ON CONFLICT DO NOTHING;
INSERT INTO locked_packages (workspace_id, ecosystem, package, env_name, env_version, version, build)
SELECT l.workspace_id, 'pypi',
       btrim(lower(regexp_replace(btrim(split_part(f.line, '==', 1)), '[-_.]+', '-', 'g')), '-'),
       l.name, l.version, btrim(substr(f.line, strpos(f.line, '==') + 2)), NULL
FROM locks l,
     json_array_elements_text(CASE WHEN json_typeof(l.lock -> 'userManaged' -> 'freeze') = 'array' THEN l.lock -> 'userManaged' -> 'freeze' ELSE '[]'::json END) f(line)
WHERE strpos(f.line, '==') > 0
ON CONFLICT DO NOTHING;
