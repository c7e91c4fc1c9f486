"""The embedded default tuning database: one SQLite file, WAL mode, shared by many processes.

Example::

    from autotune.db.sqlite import SQLiteDatabase
    with SQLiteDatabase("tuning.sqlite") as db:
        print(db.stats())
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autotune.compare import paired_speedup
from autotune.db import schema
from autotune.db.base import TuningDatabase, register
from autotune.db.records import (
    STATUSES,
    BestRecord,
    Confirmation,
    DatabaseError,
    TargetInfo,
    baseline_numbers,
    canonical_json,
    config_key,
    parse_json,
    parse_samples,
    summarize,
)
from autotune.db.sqlite_history import SQLiteHistory
from autotune.db.sqlite_maintenance import SQLiteMaintenance

# Joins drive from configs (CROSS JOIN fixes SQLite's join order): the planner otherwise scans
# every measurement of the target, 80 ms at 100,000 records instead of 0.2 ms.
_FASTEST_SQL = """
SELECT c.id, c.kind, c.config, MIN(m.median) AS median, m.samples, COUNT(*) AS runs
FROM configs c CROSS JOIN measurements m ON m.config_id = c.id
WHERE c.workload_id = ? AND m.target_id = ? AND m.status = 'ok' AND m.source != 'confirm'
  AND NOT EXISTS (SELECT 1 FROM measurements w WHERE w.config_id = c.id
                  AND w.target_id = m.target_id AND w.status = 'wrong_result')
GROUP BY c.id ORDER BY median ASC, c.id ASC LIMIT ?
"""

# The latest interleaved confirmation of a workload on a target measured on this host (or
# before hosts were kept), and whether it makes the best: the rule is the view's
# (db/migrations/0004_views.sql). Foreign confirmations never count (they carry no verdict).
_CONFIRMATION_SQL = """
SELECT config_id, config_kind, config, median_s, samples, default_s, default_samples, is_best
FROM latest_confirmations WHERE workload_id = ? AND target_id = ? AND (host IS NULL OR host = ?)
ORDER BY measurement_id DESC LIMIT 1
"""

# Ablation pairs (the config, then the config without one decision: two consecutive rows),
# newest first.
_ABLATION_SQL = """
SELECT c.config, m.samples FROM configs c CROSS JOIN measurements m ON c.id = m.config_id
WHERE c.workload_id = ? AND m.target_id = ? AND m.source = 'ablation' AND m.status = 'ok'
AND (m.host IS NULL OR m.host = ?) ORDER BY m.id DESC
"""

# Tables in dependency order, with the column that identifies a row across databases.


@register("sqlite")
class SQLiteDatabase(SQLiteHistory, SQLiteMaintenance, TuningDatabase):
    """Tuning database in one SQLite file (see db/migrations for the schema)."""

    def __init__(self, path: str | os.PathLike, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.host = this_host()
        try:
            self.conn = schema.connect(self.path, readonly=readonly)
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{self.path}: unusable database ({exc})") from exc
        if not readonly:
            self._reap_jobs()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE so that concurrent writers queue, not fail."""
        if self.readonly:
            raise DatabaseError(f"{self.path}: opened read-only")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    # --- identities ---------------------------------------------------------------
    def find_target(self, target: TargetInfo) -> int | None:
        row = self.conn.execute("SELECT id FROM targets WHERE key=?", (target.key,)).fetchone()
        return None if row is None else int(row[0])

    def target_id(self, target: TargetInfo) -> int:
        found = self.find_target(target)
        if found is not None:
            return found
        d = target.as_dict()
        with self._write() as c:
            c.execute(
                "INSERT OR IGNORE INTO targets(key, kind, device_model, isa_features, compiler,"
                " compiler_version, libraries, target_json, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    target.key,
                    d["kind"],
                    d["device_model"],
                    canonical_json(d["isa_features"]),
                    d["compiler"],
                    d["compiler_version"],
                    canonical_json(d["libraries"]),
                    canonical_json(d["target_json"]),
                    time.time(),
                ),
            )
        return int(self.find_target(target))  # type: ignore[arg-type]

    def target_info(self, target_id: int) -> TargetInfo:
        row = self.conn.execute("SELECT * FROM targets WHERE id=?", (target_id,)).fetchone()
        if row is None:
            raise DatabaseError(f"no target with id {target_id}")
        return _target_from_row(row)

    def has_target(self, target_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM targets WHERE id=?", (target_id,)).fetchone() is not None

    def latest_target(self, model_id: int) -> int | None:
        row = self.conn.execute(
            "SELECT m.target_id FROM model_workloads mw CROSS JOIN configs c ON mw.workload_id=c.workload_id"
            " CROSS JOIN measurements m ON c.id=m.config_id WHERE mw.model_id=?"
            " ORDER BY m.created_at DESC LIMIT 1",
            (model_id,),
        ).fetchone()
        return None if row is None else int(row[0])

    def measurements_per_target(self) -> dict[int, int]:
        rows = self.conn.execute("SELECT target_id, COUNT(*) FROM measurements GROUP BY target_id")
        return {int(t): int(n) for t, n in rows.fetchall()}

    def count_ok(self, target_id: int) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM measurements WHERE target_id=? AND status='ok'", (target_id,)
        ).fetchone()
        return int(row[0])

    def targets(self) -> list[tuple[int, TargetInfo]]:
        return [(r["id"], _target_from_row(r)) for r in self.conn.execute("SELECT * FROM targets")]

    def add_workload(
        self, fingerprint: str, compiler: str, name: str, ir: str, meta: dict | None = None
    ) -> int:
        known = self.workload_id(fingerprint)
        if known is not None:
            if meta:
                self._add_meta_keys(known, meta)
            return known
        with self._write() as c:
            c.execute(
                "INSERT OR IGNORE INTO workloads(fingerprint, compiler, name, ir, meta, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (fingerprint, compiler, name, ir, canonical_json(meta or {}), time.time()),
            )
        return int(self.workload_id(fingerprint))  # type: ignore[arg-type]

    def _add_meta_keys(self, workload_id: int, meta: dict) -> None:
        stored = self.workload_meta(workload_id)
        missing = {k: v for k, v in meta.items() if k not in stored}
        if missing:
            with self._write() as c:
                c.execute(
                    "UPDATE workloads SET meta=? WHERE id=?",
                    (canonical_json({**missing, **stored}), workload_id),
                )

    def workload_id(self, fingerprint: str) -> int | None:
        row = self.conn.execute("SELECT id FROM workloads WHERE fingerprint=?", (fingerprint,)).fetchone()
        return None if row is None else int(row[0])

    def workload_meta(self, workload_id: int, without: Sequence[str] = ()) -> dict[str, Any]:
        """A workload's meta, leaving out the named top-level keys inside SQLite (cheap at compile time)."""
        sql = "meta"
        for _ in without:
            sql = f"json_remove({sql}, ?)"
        row = self.conn.execute(
            f"SELECT {sql} FROM workloads WHERE id=?", (*[f"$.{k}" for k in without], workload_id)
        ).fetchone()
        if row is None:
            raise DatabaseError(f"no workload with id {workload_id}")
        meta = parse_json(row[0], "workload meta")
        if not isinstance(meta, dict):
            raise DatabaseError(f"workload {workload_id}: meta is not a JSON object")
        return meta

    def workload(self, fingerprint: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM workloads WHERE fingerprint=?", (fingerprint,)).fetchone()
        return None if row is None else _workload_from_row(row)

    def workload_by_id(self, workload_id: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT * FROM workloads WHERE id=?", (workload_id,)).fetchone()
        if row is None:
            raise DatabaseError(f"no workload with id {workload_id}")
        return _workload_from_row(row)

    def workloads(self, compiler: str | None = None, with_ir: bool = True) -> list[dict[str, Any]]:
        cols = "*" if with_ir else "id, fingerprint, compiler, name, '' AS ir, meta, created_at"
        sql, args = f"SELECT {cols} FROM workloads", ()
        if compiler:
            sql, args = sql + " WHERE compiler=?", (compiler,)
        return [_workload_from_row(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

    def set_model(self, name: str, compiler: str, source: str, workloads: Sequence[tuple[int, int]]) -> int:
        with self._write() as c:
            c.execute(
                "INSERT INTO models(name, compiler, source, updated_at) VALUES (?,?,?,?) "
                "ON CONFLICT(name, compiler) DO UPDATE SET source=excluded.source,"
                " updated_at=excluded.updated_at",
                (name, compiler, source, time.time()),
            )
            mid = int(
                c.execute("SELECT id FROM models WHERE name=? AND compiler=?", (name, compiler)).fetchone()[0]
            )
            c.execute("DELETE FROM model_workloads WHERE model_id=?", (mid,))
            merged: dict[int, int] = {}
            for wid, weight in workloads:
                merged[wid] = merged.get(wid, 0) + int(weight)
            c.executemany(
                "INSERT INTO model_workloads(model_id, workload_id, weight) VALUES (?,?,?)",
                [(mid, w, n) for w, n in merged.items()],
            )
        return mid

    def model(self, name: str, compiler: str | None = None) -> dict[str, Any] | None:
        """A model row with its workloads [(workload row, weight)], or None."""
        sql, args = "SELECT * FROM models WHERE name=?", (name,)
        if compiler:
            sql, args = sql + " AND compiler=?", (name, compiler)
        row = self.conn.execute(sql + " ORDER BY updated_at DESC", args).fetchone()
        if row is None:
            return None
        parts = self.conn.execute(
            "SELECT w.*, mw.weight FROM model_workloads mw JOIN workloads w ON w.id = mw.workload_id"
            " WHERE mw.model_id=? ORDER BY w.id",
            (row["id"],),
        ).fetchall()
        return {
            "id": row["id"],
            "name": row["name"],
            "compiler": row["compiler"],
            "source": row["source"],
            "workloads": [(_workload_from_row(p), int(p["weight"])) for p in parts],
        }

    def models(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM models ORDER BY name")]

    # --- outcomes -----------------------------------------------------------------
    def record(
        self,
        workload_id: int,
        kind: str,
        config: Any,
        target_id: int,
        status: str,
        samples: Sequence[float] = (),
        error: str = "",
        job_id: int | None = None,
        source: str = "tune",
        host: str | None = None,
    ) -> int:
        with self._write() as c:
            return self._insert(
                c, workload_id, kind, config, target_id, status, samples, error, job_id, source, host
            )

    def _insert(
        self,
        c: sqlite3.Connection,
        workload_id: int,
        kind: str,
        config: Any,
        target_id: int,
        status: str,
        samples: Sequence[float],
        error: str,
        job_id: int | None,
        source: str,
        host: str | None = None,
    ) -> int:
        """One measurement (and its config, if new) inside the caller's write transaction."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        samples = [float(s) for s in samples]
        median, spread = summarize(samples) if status == "ok" else (None, None)
        if status == "ok" and median is None:
            raise ValueError("an 'ok' outcome needs at least one sample")
        text = canonical_json(config)
        fp = c.execute("SELECT fingerprint FROM workloads WHERE id=?", (workload_id,)).fetchone()
        if fp is None:
            raise DatabaseError(f"no workload with id {workload_id}")
        key = config_key(fp[0], text)
        c.execute(
            "INSERT OR IGNORE INTO configs(key, workload_id, kind, config, created_at) VALUES (?,?,?,?,?)",
            (key, workload_id, kind, text, time.time()),
        )
        cid = c.execute("SELECT id FROM configs WHERE key=?", (key,)).fetchone()[0]
        cur = c.execute(
            "INSERT INTO measurements(uid, config_id, target_id, job_id, status, samples, median,"
            " spread, error, source, created_at, host) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                uuid.uuid4().hex,
                cid,
                target_id,
                job_id,
                status,
                canonical_json(samples),
                median,
                spread,
                error[:4000],
                source,
                time.time(),
                host or self.host,
            ),
        )
        return int(cur.lastrowid)

    def fastest(self, workload_id: int, target_id: int, k: int = 1) -> list[BestRecord]:
        rows = self.conn.execute(_FASTEST_SQL, (workload_id, target_id, k)).fetchall()
        return [
            BestRecord(
                config_id=r[0],
                kind=r[1],
                config=parse_json(r[2], "config"),
                median=float(r[3]),
                samples=parse_samples(r[4]),
                runs=int(r[5]),
            )
            for r in rows
        ]

    def default_latency(self, workload_id: int, target_id: int) -> float | None:
        row = self.conn.execute(
            "SELECT MIN(m.median) FROM configs c CROSS JOIN measurements m ON m.config_id=c.id"
            " WHERE c.workload_id=? AND m.target_id=? AND c.kind='default' AND m.status='ok'"
            " AND m.source != 'confirm'",
            (workload_id, target_id),
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def record_pair(
        self,
        workload_id: int,
        kind: str,
        config: Any,
        target_id: int,
        default: Sequence[float],
        tuned: Sequence[float],
        job_id: int | None = None,
    ) -> int:
        with self._write() as c:
            first = self._insert(
                c, workload_id, "default", {}, target_id, "ok", default, "", job_id, "confirm"
            )
            second = self._insert(c, workload_id, kind, config, target_id, "ok", tuned, "", job_id, "confirm")
            schema.set_verdict(c, second, first, [float(x) for x in default], [float(x) for x in tuned])
        return second

    def confirmation(self, workload_id: int, target_id: int) -> Confirmation | None:
        row = self.conn.execute(_CONFIRMATION_SQL, (workload_id, target_id, self.host)).fetchone()
        if row is None:
            return None
        return Confirmation(
            config_id=int(row[0]),
            kind=row[1],
            config=parse_json(row[2], "config"),
            median=float(row[3]),
            samples=parse_samples(row[4]),
            default_median=float(row[5]),
            default_samples=parse_samples(row[6]),
            is_best=bool(row[7]),
        )

    def best(self, workload_id: int, target_id: int) -> BestRecord | None:
        c = self.confirmation(workload_id, target_id)
        if c is None or not c.is_best:
            return None
        return BestRecord(c.config_id, c.kind, c.config, c.median, c.samples, runs=1, speedup=c.speedup)

    def unverified(self, target_id: int) -> list[int]:
        foreign = self.conn.execute(
            "SELECT c.workload_id, MAX(m.id) FROM configs c CROSS JOIN measurements m ON m.config_id=c.id"
            " WHERE m.target_id=? AND m.status='ok' AND m.source != 'confirm' AND c.kind != 'default'"
            " AND m.host IS NOT NULL AND m.host != ? GROUP BY c.workload_id ORDER BY c.workload_id",
            (target_id, self.host),
        ).fetchall()
        local = dict(
            self.conn.execute(
                "SELECT c.workload_id, MAX(m.id) FROM configs c CROSS JOIN measurements m ON m.config_id=c.id"
                " WHERE m.target_id=? AND m.source='confirm' AND (m.host IS NULL OR m.host=?)"
                " GROUP BY c.workload_id",
                (target_id, self.host),
            ).fetchall()
        )
        return [int(w) for w, newest in foreign if local.get(w) is None or newest > local[w]]

    def contributions(self, workload_id: int, target_id: int, config: dict[str, Any]) -> dict[str, float]:
        if not isinstance(config, dict) or not config:
            return {}
        if len(config) == 1:
            c = self.confirmation(workload_id, target_id)
            return {next(iter(config)): c.speedup} if c is not None and c.config == config else {}
        rows = self.conn.execute(_ABLATION_SQL, (workload_id, target_id, self.host)).fetchall()
        key = canonical_json(config)
        found: dict[str, float] = {}
        # Newest first: a pair recorded (with, without) reads (without, with).
        for (without, without_samples), (with_config, with_samples) in zip(rows, rows[1:]):
            if with_config != key:
                continue
            gone = set(config) - set(parse_json(without, "config"))
            if len(gone) == 1 and (name := gone.pop()) not in found:
                found[name] = paired_speedup(parse_samples(without_samples), parse_samples(with_samples))
        return {name: found[name] for name in config if name in found}

    def best_for(self, fingerprint: str, target_id: int) -> BestRecord | None:
        wid = self.workload_id(fingerprint)
        return None if wid is None else self.best(wid, target_id)

    def count(self, workload_id: int, target_id: int, source: str | None = "tune") -> int:
        sql = (
            "SELECT COUNT(*) FROM configs c CROSS JOIN measurements m ON c.id=m.config_id"
            " WHERE c.workload_id=? AND m.target_id=?"
        )
        args: tuple = (workload_id, target_id)
        if source is not None:
            sql, args = sql + " AND m.source=?", args + (source,)
        return int(self.conn.execute(sql, args).fetchone()[0])

    def outcomes(self, workload_id: int, target_id: int) -> list[dict[str, Any]]:
        """Every measurement of a workload on a target, oldest first."""
        rows = self.conn.execute(
            "SELECT m.*, c.kind, c.config FROM configs c CROSS JOIN measurements m ON c.id=m.config_id"
            " WHERE c.workload_id=? AND m.target_id=? ORDER BY m.id",
            (workload_id, target_id),
        ).fetchall()
        return [dict(r) for r in rows]

    # --- jobs and tuned state -----------------------------------------------------
    def start_job(self, spec: dict) -> int:
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO jobs(uid, started_at, status, spec, host, pid) VALUES (?,?,?,?,?,?)",
                (uuid.uuid4().hex, time.time(), "running", canonical_json(spec), self.host, os.getpid()),
            )
            return int(cur.lastrowid)

    def jobs(self) -> list[dict[str, Any]]:
        out = []
        for r in self.conn.execute(
            "SELECT id, uid, started_at, finished_at, status, host, pid FROM jobs ORDER BY id"
        ):
            d = dict(r)
            if d["status"] == "running" and self._dead(d):
                d["status"] = "interrupted"
            out.append(d)
        return out

    def _dead(self, job: dict[str, Any]) -> bool:
        """Whether a 'running' job's process is gone (only this host's processes can be seen)."""
        if job["host"] != self.host:
            return False
        if job["pid"] is None:
            return True  # written before pids were kept: no such job can still be running
        try:
            os.kill(int(job["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, OverflowError):
            return False
        return False

    def _reap_jobs(self) -> None:
        """Mark the jobs of this host whose process was killed as interrupted."""
        running = self.conn.execute("SELECT id, host, pid FROM jobs WHERE status='running'").fetchall()
        dead = [r["id"] for r in running if self._dead(dict(r))]
        if dead:
            with self._write() as c:
                c.executemany(
                    "UPDATE jobs SET status='interrupted', finished_at=? WHERE id=? AND status='running'",
                    [(time.time(), i) for i in dead],
                )

    def finish_job(self, job_id: int, status: str) -> None:
        with self._write() as c:
            c.execute("UPDATE jobs SET status=?, finished_at=? WHERE id=?", (status, time.time(), job_id))

    def mark_tuned(self, workload_id: int, target_id: int, trials: int, job_id: int | None) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO tuned(workload_id, target_id, trials, job_id, finished_at) VALUES (?,?,?,?,?)"
                " ON CONFLICT(workload_id, target_id) DO UPDATE SET trials=excluded.trials,"
                " job_id=excluded.job_id, finished_at=excluded.finished_at",
                (workload_id, target_id, trials, job_id, time.time()),
            )

    def tuned_trials(self, workload_id: int, target_id: int) -> int | None:
        """The trial budget a finished tuning of this workload met, or None if never finished."""
        row = self.conn.execute(
            "SELECT trials FROM tuned WHERE workload_id=? AND target_id=?", (workload_id, target_id)
        ).fetchone()
        return None if row is None else int(row[0])

    def is_tuned(self, workload_id: int, target_id: int) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM tuned WHERE workload_id=? AND target_id=?", (workload_id, target_id)
            ).fetchone()
            is not None
        )

    def add_model_measurement(
        self,
        model_id: int,
        target_id: int,
        tuned: Sequence[float],
        default: Sequence[float],
        speedup: float,
        job_id: int | None = None,
    ) -> int:
        t_med, _ = summarize(list(tuned))
        d_med, _ = summarize(list(default))
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO model_measurements(uid, model_id, target_id, job_id, tuned_samples,"
                " default_samples, tuned_median, default_median, speedup, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    uuid.uuid4().hex,
                    model_id,
                    target_id,
                    job_id,
                    canonical_json(list(tuned)),
                    canonical_json(list(default)),
                    t_med,
                    d_med,
                    float(speedup),
                    time.time(),
                ),
            )
            return int(cur.lastrowid)

    def latest_model_measurement(self, model_id: int, target_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT * FROM model_measurements WHERE model_id=? AND target_id=?"
            " ORDER BY created_at DESC LIMIT 1",
            (model_id, target_id),
        ).fetchone()
        return None if row is None else dict(row)

    def add_baseline(
        self,
        model_id: int,
        target_id: int,
        name: str,
        status: str,
        samples: Sequence[float] = (),
        tuned: Sequence[float] = (),
        error: str = "",
        version: str = "",
        setup_s: float | None = None,
        job_id: int | None = None,
        host: str | None = None,
    ) -> int:
        samples, tuned = [float(x) for x in samples], [float(x) for x in tuned]
        median, tuned_median, speedup = baseline_numbers(status, samples, tuned)
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO baselines(uid, model_id, target_id, job_id, name, version, status, samples,"
                " tuned_samples, median_s, tuned_median_s, speedup, setup_s, error, host, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    uuid.uuid4().hex,
                    model_id,
                    target_id,
                    job_id,
                    name,
                    version,
                    status,
                    canonical_json(samples),
                    canonical_json(tuned),
                    median,
                    tuned_median,
                    speedup,
                    None if setup_s is None else float(setup_s),
                    error[:4000],
                    host or self.host,
                    time.time(),
                ),
            )
            return int(cur.lastrowid)

    def baselines(self, model_id: int, target_id: int) -> dict[str, dict[str, Any]]:
        if not self._has_table("baselines"):  # a read-only file of schema version 2
            return {}
        rows = self.conn.execute(
            "SELECT * FROM baselines WHERE model_id=? AND target_id=? AND host=? ORDER BY id",
            (model_id, target_id, self.host),
        ).fetchall()
        out: dict[str, dict[str, Any]] = {}
        for r in rows:  # oldest first: the latest of each name stays
            d = dict(r)
            d["samples"], d["tuned_samples"] = parse_samples(d["samples"]), parse_samples(d["tuned_samples"])
            out[d["name"]] = d
        return out


def this_host() -> str:
    """The name this host's measurements carry (the one jobs record too)."""
    return socket.gethostname()


def _target_from_row(row: sqlite3.Row) -> TargetInfo:
    return TargetInfo(
        kind=row["kind"],
        device_model=row["device_model"],
        isa_features=tuple(parse_json(row["isa_features"], "isa_features")),
        compiler=row["compiler"],
        compiler_version=row["compiler_version"],
        libraries=parse_json(row["libraries"], "libraries"),
        target_json=parse_json(row["target_json"], "target_json"),
    )


def _workload_from_row(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["meta"] = parse_json(d["meta"], "workload meta")
    if "weight" in d:
        d.pop("weight")
    return d
