-- Refused requests are audited too (`auth.*` actions): where the request came from, and how
-- many refusals like it were counted but not written one by one (the server writes the first
-- of each kind and caller per window, so a flood of bad requests is not a flood of rows).
ALTER TABLE audit_events ADD COLUMN client TEXT;
ALTER TABLE audit_events ADD COLUMN repeats BIGINT NOT NULL DEFAULT 0;
