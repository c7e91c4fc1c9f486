-- autotune tuning database, schema version 2: where a measurement was taken, who runs a job.

-- The host that measured it. NULL: recorded on this file's own host before hosts were kept
-- (a merge marks the NULL rows it brings in as foreign). Only measurements of this host
-- decide a best; foreign ones seed searches until they are re-measured here.
ALTER TABLE measurements ADD COLUMN host TEXT;

-- The process that runs a job: a job left 'running' by a process that no longer exists on
-- this host was killed, and reads as 'interrupted'.
ALTER TABLE jobs ADD COLUMN pid INTEGER;
