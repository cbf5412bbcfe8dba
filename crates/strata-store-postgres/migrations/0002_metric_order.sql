-- Metrics are ordered by one sequence instead of one more than the run's highest, so
-- concurrent batches of a run need no lock; new values follow every stored one.
CREATE SEQUENCE run_metrics_order;
SELECT setval('run_metrics_order', COALESCE((SELECT MAX(seq) FROM run_metrics), 0) + 1, false);
