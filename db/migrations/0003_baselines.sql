-- autotune tuning database, schema version 3: what users run instead of the tuned build.

-- A baseline of a model on a target (PyTorch eager, torch.compile of a TVM model's torch
-- module), timed interleaved with the tuned build of that moment, round by round. Costly
-- ones (a compile of their own) are measured once per model, target and version, then
-- read back. Only rows of this host are read: a merge marks what it brings in as foreign.
CREATE TABLE baselines (
    id             INTEGER PRIMARY KEY,
    uid            TEXT NOT NULL UNIQUE,        -- globally unique: merges never duplicate
    model_id       INTEGER NOT NULL REFERENCES models(id),
    target_id      INTEGER NOT NULL REFERENCES targets(id),
    job_id         INTEGER REFERENCES jobs(id),
    name           TEXT NOT NULL,               -- 'torch' (PyTorch eager), 'torch.compile', ...
    version        TEXT NOT NULL DEFAULT '',    -- what was timed, e.g. 'torch 2.13.0'
    status         TEXT NOT NULL CHECK (status IN ('ok', 'unavailable', 'wrong_result')),
    samples        TEXT NOT NULL DEFAULT '[]',  -- JSON list of the baseline's seconds
    tuned_samples  TEXT NOT NULL DEFAULT '[]',  -- JSON list of the tuned build's, interleaved
    median_s       REAL,                        -- NULL unless status = 'ok'
    tuned_median_s REAL,
    speedup        REAL,                        -- median of paired baseline/tuned ratios
    setup_s        REAL,                        -- getting it ready (a compile), seconds
    error          TEXT NOT NULL DEFAULT '',    -- why it is unavailable or wrong
    host           TEXT NOT NULL,               -- who measured it ('... (merged)': elsewhere)
    created_at     REAL NOT NULL
);
CREATE INDEX baselines_model_target ON baselines(model_id, target_id, name);
