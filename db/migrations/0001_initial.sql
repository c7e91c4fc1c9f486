-- autotune tuning database, schema version 1.
-- Content-addressed and target-aware: (workload fingerprint, target, config) -> measurements.
-- Everything stored is plain data: JSON or text IR. The best config is a query, never a copy.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A target is the device plus the software that compiled for it.
CREATE TABLE targets (
    id               INTEGER PRIMARY KEY,
    key              TEXT NOT NULL UNIQUE,      -- sha256 of the canonical JSON of the columns below
    kind             TEXT NOT NULL,             -- 'llvm', 'cuda', 'cpu' (XLA), ...
    device_model     TEXT NOT NULL,             -- e.g. the CPU model name
    isa_features     TEXT NOT NULL,             -- JSON list of ISA feature names
    compiler         TEXT NOT NULL,             -- 'tvm' | 'xla'
    compiler_version TEXT NOT NULL,
    libraries        TEXT NOT NULL,             -- JSON object: library -> version
    target_json      TEXT NOT NULL,             -- the compiler's own target description (JSON)
    created_at       REAL NOT NULL
);

-- A workload is one unit the compiler schedules (a fused TIR PrimFunc, an HLO module).
CREATE TABLE workloads (
    id          INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,           -- stable content hash of the IR
    compiler    TEXT NOT NULL,
    name        TEXT NOT NULL,                  -- human name, e.g. fused_matmul_add_relu
    ir          TEXT NOT NULL,                  -- the IR as plain text/JSON (tvm.ir.save_json, HLO text)
    meta        TEXT NOT NULL DEFAULT '{}',     -- JSON: flops, argument shapes, ...
    created_at  REAL NOT NULL
);

-- A model is a weighted set of workloads (its current composition).
CREATE TABLE models (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    compiler   TEXT NOT NULL,
    source     TEXT NOT NULL,                   -- zoo name or user spec module:function
    updated_at REAL NOT NULL,
    UNIQUE (name, compiler)
);

CREATE TABLE model_workloads (
    model_id    INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    workload_id INTEGER NOT NULL REFERENCES workloads(id),
    weight      INTEGER NOT NULL,               -- how many times the model calls the workload
    PRIMARY KEY (model_id, workload_id)
);

-- A config is one choice for every decision of a workload (for TVM: a MetaSchedule trace).
CREATE TABLE configs (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,           -- sha256(workload fingerprint, canonical config JSON)
    workload_id INTEGER NOT NULL REFERENCES workloads(id),
    kind        TEXT NOT NULL,                  -- 'default' | 'trace' | 'options'
    config      TEXT NOT NULL,                  -- canonical JSON
    created_at  REAL NOT NULL
);
CREATE INDEX configs_workload ON configs(workload_id);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    uid         TEXT NOT NULL UNIQUE,
    started_at  REAL NOT NULL,
    finished_at REAL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    spec        TEXT NOT NULL DEFAULT '{}',     -- JSON of the job file / command line
    host        TEXT NOT NULL DEFAULT ''
);

-- Every outcome of every measured candidate, failures included.
CREATE TABLE measurements (
    id         INTEGER PRIMARY KEY,
    uid        TEXT NOT NULL UNIQUE,            -- globally unique: merges never duplicate
    config_id  INTEGER NOT NULL REFERENCES configs(id),
    target_id  INTEGER NOT NULL REFERENCES targets(id),
    job_id     INTEGER REFERENCES jobs(id),
    status     TEXT NOT NULL CHECK (status IN
                 ('ok', 'build_error', 'run_error', 'timeout', 'wrong_result')),
    samples    TEXT NOT NULL DEFAULT '[]',      -- JSON list of seconds
    median     REAL,                            -- seconds; NULL unless status = 'ok'
    spread     REAL,                            -- (max - min) / median of the samples
    error      TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL DEFAULT 'tune',    -- 'tune' | 'default' | 'confirm' | 'import'
    created_at REAL NOT NULL
);
CREATE INDEX measurements_config_target ON measurements(config_id, target_id, status, median);
CREATE INDEX measurements_target ON measurements(target_id);

-- A workload counts as tuned for a target once a job finished its trial budget on it.
CREATE TABLE tuned (
    workload_id INTEGER NOT NULL REFERENCES workloads(id),
    target_id   INTEGER NOT NULL REFERENCES targets(id),
    trials      INTEGER NOT NULL,
    job_id      INTEGER REFERENCES jobs(id),
    finished_at REAL NOT NULL,
    PRIMARY KEY (workload_id, target_id)
);

-- End-to-end latency of a whole model, tuned vs the compiler default, measured interleaved.
CREATE TABLE model_measurements (
    id             INTEGER PRIMARY KEY,
    uid            TEXT NOT NULL UNIQUE,
    model_id       INTEGER NOT NULL REFERENCES models(id),
    target_id      INTEGER NOT NULL REFERENCES targets(id),
    job_id         INTEGER REFERENCES jobs(id),
    tuned_samples  TEXT NOT NULL,               -- JSON list of seconds
    default_samples TEXT NOT NULL,              -- JSON list of seconds
    tuned_median   REAL NOT NULL,
    default_median REAL NOT NULL,
    speedup        REAL NOT NULL,               -- median of paired default/tuned ratios
    created_at     REAL NOT NULL
);
