-- autotune tuning database, schema version 4: what a job did per model, confirmations as
-- one row each, and views for the common questions (sqlite-utils, datasette, sqlite3).

-- The verdict of an interleaved confirmation, on its candidate's row (source 'confirm'):
-- `paired_with` is the default's row timed with it, `speedup` the median of the paired
-- ratios default/candidate and `won` whether it passed autotune.compare's win rule (1/0).
-- Written with the pair, in the same transaction; NULL on every other row. What a merge
-- brings in arrives without a verdict: it never decides a best here.
ALTER TABLE measurements ADD COLUMN paired_with INTEGER;
ALTER TABLE measurements ADD COLUMN speedup REAL;
ALTER TABLE measurements ADD COLUMN won INTEGER;
-- The confirmations of a config: a small index (only rows with a verdict), so that finding a
-- workload's latest confirmation probes it once per config, not the config's every run.
CREATE INDEX measurements_verdicts ON measurements(config_id, target_id) WHERE won IS NOT NULL;

-- One row per model a job worked on, failed ones included (by name: a model that failed
-- to load has no row in models): how it ended and where its time went. `result` is the
-- job's report of the model (JSON: status, trials, failures, latencies, baselines, notes,
-- profile of seconds: compile, run, worker start, cost model, autotune's own).
CREATE TABLE job_models (
    job_id     INTEGER NOT NULL REFERENCES jobs(id),
    model      TEXT NOT NULL,
    compiler   TEXT NOT NULL,
    target_id  INTEGER REFERENCES targets(id),
    status     TEXT NOT NULL,                   -- 'tuned' | 'skipped' | 'partial' | 'failed'
    trials     INTEGER NOT NULL,
    failures   INTEGER NOT NULL,
    seconds    REAL,                            -- tuning wall-clock of the model in this job
    result     TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    PRIMARY KEY (job_id, model, compiler)
);

-- Every measurement with the names of what it measured: workload, compiler, target, job.
CREATE VIEW measurements_named AS
SELECT m.id, m.status, m.source, m.median AS median_s, m.spread, m.error, m.host,
       m.created_at AS measured_at, m.job_id,
       w.id AS workload_id, w.name AS workload, w.fingerprint, w.compiler,
       c.id AS config_id, c.kind AS config_kind, c.config,
       t.id AS target_id, t.kind AS target_kind, t.device_model, t.compiler_version
FROM configs c
CROSS JOIN measurements m ON m.config_id = c.id
CROSS JOIN workloads w ON w.id = c.workload_id
CROSS JOIN targets t ON t.id = m.target_id;

-- Each interleaved confirmation of a candidate against the compiler's default: one row.
-- (CROSS JOIN keeps SQLite's join order: configs drive, so a lookup by workload reads that
-- workload's rows only, not every measurement of the target.)
CREATE VIEW confirmations AS
SELECT m.id AS measurement_id, c.workload_id, w.name AS workload, w.fingerprint, w.compiler,
       m.target_id, t.device_model, t.compiler_version, m.host, m.job_id,
       c.id AS config_id, c.kind AS config_kind, c.config,
       m.median AS median_s, d.median AS default_s, m.speedup, m.won,
       m.samples, d.samples AS default_samples, m.created_at AS measured_at
FROM configs c
CROSS JOIN measurements m ON m.config_id = c.id
CROSS JOIN workloads w ON w.id = c.workload_id
CROSS JOIN targets t ON t.id = m.target_id
CROSS JOIN measurements d ON d.id = m.paired_with
WHERE m.won IS NOT NULL;  -- a verdict is on a confirmation's candidate row only

-- THE rule of the best config, defined here once (TuningDatabase.best reads it): per
-- workload, target and measuring host, the latest confirmation; it is the best when it won
-- and its config never gave a wrong result on that target. Otherwise the default is best.
-- A row without a host (this file's own, from before hosts were kept) counts as every
-- host's: it is the latest only when no later confirmation of any host exists.
CREATE VIEW latest_confirmations AS
SELECT cf.*,
       (cf.won = 1 AND NOT EXISTS (
            SELECT 1 FROM measurements x
            WHERE x.config_id = cf.config_id AND x.target_id = cf.target_id
              AND x.status = 'wrong_result')) AS is_best
FROM confirmations cf
WHERE cf.measurement_id = (
    SELECT MAX(m2.id) FROM configs c2 CROSS JOIN measurements m2 ON m2.config_id = c2.id
    WHERE c2.workload_id = cf.workload_id AND m2.target_id = cf.target_id
      AND m2.won IS NOT NULL
      AND (m2.host IS cf.host OR m2.host IS NULL OR cf.host IS NULL));

-- The best config of every workload that has one, per target and measuring host (host NULL:
-- this file's own host, measured before hosts were kept). Only a merge brings rows of other
-- hosts, and those arrive without a verdict, so this is the bests measured here.
CREATE VIEW best_configs AS
SELECT workload_id, workload, fingerprint, compiler, target_id, device_model, compiler_version,
       host, config_id, config_kind, config, median_s, default_s, speedup, measured_at, job_id
FROM latest_confirmations WHERE is_best = 1;

-- The best config per model and target: one row per subgraph of the model with a best
-- (a subgraph without a row keeps the compiler's default).
CREATE VIEW model_best_configs AS
SELECT mo.name AS model, mo.compiler, mw.weight, b.workload_id, b.workload, b.fingerprint,
       b.target_id, b.device_model, b.compiler_version, b.host, b.config_id, b.config_kind,
       b.config, b.median_s, b.default_s, b.speedup, b.measured_at, b.job_id
FROM models mo
JOIN model_workloads mw ON mw.model_id = mo.id
JOIN best_configs b ON b.workload_id = mw.workload_id;

-- Each end-to-end measurement of a model, tuned against the default, with names.
CREATE VIEW model_results AS
SELECT mm.id, mo.name AS model, mo.compiler, mm.target_id, t.device_model, t.compiler_version,
       mm.job_id, mm.default_median AS default_s, mm.tuned_median AS tuned_s, mm.speedup,
       mm.created_at AS measured_at
FROM model_measurements mm
JOIN models mo ON mo.id = mm.model_id
JOIN targets t ON t.id = mm.target_id;
