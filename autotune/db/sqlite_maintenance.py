"""Whole-database operations of the SQLite store: statistics, validation, dump and merge.

A mixin of `SQLiteDatabase`, kept apart so that the per-record access stays short.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from typing import Any

from autotune.db.base import TuningDatabase
from autotune.db.records import (
    STATUSES,
    DatabaseError,
    TargetInfo,
    baseline_numbers,
    canonical_json,
    config_key,
    parse_json,
    parse_samples,
    summarize,
)
from autotune.db.schema import set_verdict

JOB_STATUSES = ("running", "done", "failed", "interrupted")
MAX_TEXT = 16 << 20  # a workload's IR, the largest field we keep


def clean_row(table: str, row: dict[str, Any], fingerprint: str | None) -> dict[str, Any] | None:
    """A foreign row rebuilt from its content, or None when it is not valid data."""
    try:
        return _CLEANERS.get(table, lambda r, fp: r)(dict(row), fingerprint)
    except (DatabaseError, KeyError, TypeError, ValueError, RecursionError):
        return None


def _target(r: dict[str, Any], fp: str | None) -> dict[str, Any]:
    info = TargetInfo.from_dict(
        {
            k: parse_json(r[k], k) if k in ("isa_features", "libraries", "target_json") else r[k]
            for k in (
                "kind",
                "device_model",
                "isa_features",
                "compiler",
                "compiler_version",
                "libraries",
                "target_json",
            )
        }
    )
    d = info.as_dict()
    r.update(
        key=info.key,
        isa_features=canonical_json(d["isa_features"]),
        libraries=canonical_json(d["libraries"]),
        target_json=canonical_json(d["target_json"]),
    )
    return r


def _workload(r: dict[str, Any], fp: str | None) -> dict[str, Any]:
    meta = parse_json(r["meta"], "workload meta")
    if not (isinstance(r["fingerprint"], str) and r["fingerprint"] and isinstance(meta, dict)):
        raise ValueError("bad workload")
    if not isinstance(r["ir"], str) or len(r["ir"]) > MAX_TEXT or not isinstance(r["name"], str):
        raise ValueError("bad workload")
    r["meta"] = canonical_json(meta)
    return r


def _config(r: dict[str, Any], fp: str | None) -> dict[str, Any]:
    if fp is None or not isinstance(r["kind"], str):
        raise ValueError("config of an unknown workload")
    text = canonical_json(parse_json(r["config"], "config"))
    r.update(config=text, key=config_key(fp, text))  # the key is recomputed, never copied
    return r


def _measurement(r: dict[str, Any], fp: str | None) -> dict[str, Any]:
    if r["status"] not in STATUSES:
        raise ValueError("bad status")
    samples = parse_samples(r["samples"])
    if r["status"] == "ok" and (not samples or min(samples) <= 0):
        raise ValueError("'ok' without positive samples")
    median, spread = summarize(samples) if r["status"] == "ok" else (None, None)
    host = r.get("host")
    host = f"{host} (merged)" if isinstance(host, str) and host else "unknown (merged)"
    r.update(samples=canonical_json(samples), median=median, spread=spread, host=host)
    # A verdict is never copied: its pair's id is another file's, and it was decided elsewhere.
    r.update(paired_with=None, speedup=None, won=None)
    if not isinstance(r.get("error", ""), str) or not isinstance(r.get("source", ""), str):
        raise ValueError("bad text")
    return r


def _job(r: dict[str, Any], fp: str | None) -> dict[str, Any]:
    if r["status"] not in JOB_STATUSES:
        raise ValueError("bad job status")
    r["status"] = "interrupted" if r["status"] == "running" else r["status"]
    r["spec"] = canonical_json(parse_json(r["spec"], "job spec"))
    r["pid"] = None  # a process of another host (or file) is never one of ours
    return r


def _model_measurement(r: dict[str, Any], fp: str | None) -> dict[str, Any]:
    tuned, default = parse_samples(r["tuned_samples"]), parse_samples(r["default_samples"])
    if not tuned or not default or min(tuned + default) <= 0:
        raise ValueError("model measurement without positive samples")
    speedup = float(r["speedup"])
    if not 0 < speedup < 1e6:
        raise ValueError("bad speedup")
    r.update(
        tuned_samples=canonical_json(tuned),
        default_samples=canonical_json(default),
        tuned_median=summarize(tuned)[0],
        default_median=summarize(default)[0],
        speedup=speedup,
    )
    return r


def _baseline(r: dict[str, Any], fp: str | None) -> dict[str, Any]:
    samples, tuned = parse_samples(r["samples"]), parse_samples(r["tuned_samples"])
    median, tuned_median, speedup = baseline_numbers(r["status"], samples, tuned)  # recomputed
    if not isinstance(r["name"], str) or not r["name"] or len(r["name"]) > 200:
        raise ValueError("bad baseline name")
    if not isinstance(r.get("version", ""), str) or not isinstance(r.get("error", ""), str):
        raise ValueError("bad text")
    setup = r.get("setup_s")
    if setup is not None and not (_number(setup) and 0 <= setup < 1e9):
        raise ValueError("bad setup time")
    host = r.get("host")
    r.update(
        samples=canonical_json(samples),
        tuned_samples=canonical_json(tuned),
        median_s=median,
        tuned_median_s=tuned_median,
        speedup=speedup,
        # Measured elsewhere: kept, never read as this host's (`baselines` reads local rows).
        host=f"{host} (merged)" if isinstance(host, str) and host else "unknown (merged)",
    )
    return r


def _job_model(r: dict[str, Any], fp: str | None) -> dict[str, Any]:
    result = parse_json(r["result"], "job model result")
    texts = (r["status"], r["model"], r["compiler"])
    if not isinstance(result, dict) or not all(isinstance(t, str) and 0 < len(t) <= 200 for t in texts):
        raise ValueError("bad job model result")
    for key in ("trials", "failures"):
        if not isinstance(r[key], int) or isinstance(r[key], bool) or r[key] < 0:
            raise ValueError("bad count")
    if r.get("seconds") is not None and not (_number(r["seconds"]) and r["seconds"] >= 0):
        raise ValueError("bad seconds")
    r["result"] = canonical_json(result)
    return r


_CLEANERS = {
    "targets": _target,
    "workloads": _workload,
    "configs": _config,
    "measurements": _measurement,
    "jobs": _job,
    "model_measurements": _model_measurement,
    "baselines": _baseline,
    "job_models": _job_model,
}

_MERGE_ORDER = [
    ("targets", "key"),
    ("workloads", "fingerprint"),
    ("models", None),
    ("model_workloads", None),
    ("configs", "key"),
    ("jobs", "uid"),
    ("measurements", "uid"),
    ("tuned", None),
    ("model_measurements", "uid"),
    ("baselines", "uid"),  # schema version 3
    ("job_models", None),  # schema version 4
]


def _baseline_problems(r: dict[str, Any]) -> list[str]:
    """What is wrong with a stored baseline row: its numbers must be those of its samples."""
    try:
        samples, tuned = parse_samples(r["samples"]), parse_samples(r["tuned_samples"])
        numbers = baseline_numbers(r["status"], samples, tuned)
    except (DatabaseError, ValueError) as exc:
        return [f"baseline {r['id']}: {exc}"]
    stored = (r["median_s"], r["tuned_median_s"], r["speedup"])
    if any(
        (a is None) != (b is None) or (a is not None and not (_number(b) and abs(a - b) <= 1e-12 * abs(a)))
        for a, b in zip(numbers, stored)
    ):
        return [f"baseline {r['id']}: median or speedup is not its samples'"]
    return []


def _verdict(c: sqlite3.Connection, candidate: int, default: int | None) -> None:
    """The verdict of a merged confirmation, recomputed from its two rows' samples here."""
    if default is None:
        return
    rows = dict(c.execute("SELECT id, samples FROM measurements WHERE id IN (?, ?)", (default, candidate)))
    set_verdict(c, candidate, default, parse_samples(rows[default]), parse_samples(rows[candidate]))


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class SQLiteMaintenance:
    """stats / check / dump / merge_from over `self.conn` (an open sqlite3 connection)."""

    conn: sqlite3.Connection

    def _has_table(self, table: str) -> bool:
        """Whether the file has a table (a read-only file of an older schema is not migrated)."""
        found = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,))
        return found.fetchone() is not None

    def _tables(self) -> list[str]:
        """The tables of `_MERGE_ORDER` this file has, in that order."""
        return [t for t, _ in _MERGE_ORDER if self._has_table(t)]

    # --- whole-database operations ------------------------------------------------
    def stats(self) -> dict[str, int]:
        out = {}
        for table, _ in _MERGE_ORDER:
            has = self._has_table(table)
            out[table] = int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]) if has else 0
        for status in STATUSES:
            out[f"measurements_{status}"] = int(
                self.conn.execute("SELECT COUNT(*) FROM measurements WHERE status=?", (status,)).fetchone()[0]
            )
        return out

    def check(self) -> list[str]:
        problems = [r[0] for r in self.conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key: {tuple(r)}" for r in self.conn.execute("PRAGMA foreign_key_check")]
        for r in self.conn.execute("SELECT id, samples, status, median FROM measurements"):
            try:
                samples = parse_samples(r["samples"])
                if r["status"] == "ok" and (not samples or r["median"] is None):
                    problems.append(f"measurement {r['id']}: 'ok' without samples")
                elif r["status"] == "ok" and (
                    not isinstance(r["median"], float | int)
                    or isinstance(r["median"], bool)
                    or r["median"] != summarize(samples)[0]
                    or min(samples) <= 0
                ):
                    problems.append(
                        f"measurement {r['id']}: median {r['median']!r} is not its samples' median"
                    )
            except DatabaseError as exc:
                problems.append(f"measurement {r['id']}: {exc}")
        for table, column in (("configs", "config"), ("workloads", "meta"), ("targets", "target_json")):
            for r in self.conn.execute(f"SELECT id, {column} FROM {table}"):
                try:
                    parse_json(r[1], column)
                except DatabaseError as exc:
                    problems.append(f"{table} {r[0]}: {exc}")
        for r in self.conn.execute(
            "SELECT c.id, c.key, c.config, w.fingerprint FROM configs c"
            " JOIN workloads w ON w.id=c.workload_id"
        ):
            if config_key(r["fingerprint"], r["config"]) != r["key"]:
                problems.append(f"configs {r['id']}: key does not match content")
        if self._has_table("baselines"):
            for r in self.conn.execute("SELECT * FROM baselines"):
                problems += _baseline_problems(dict(r))
        return problems

    def dump(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for table in self._tables():
            for row in self.conn.execute(f"SELECT * FROM {table}"):
                yield table, dict(row)

    def merge_from(
        self, other: TuningDatabase, own_shard: bool = False, jobs_as: int | None = None
    ) -> dict[str, int]:
        """Copy rows of `other` missing here, remapping ids by content keys and uids.

        `other` is untrusted: every row is validated as data and rebuilt from its content
        (keys recomputed, medians recomputed from the samples, only known columns); a row that
        fails, and every row that depends on it, is left out and counted under 'refused'.
        Merged measurements keep the host that claims them, marked as merged, so they never
        decide a best here until they are re-measured on this host.

        `own_shard`: `other` is a shard this job's own worker tuned into (a fan-out task): its
        rows are validated the same way, but keep the host that measured them, and each
        confirmation gets its verdict again, recomputed here from the pair's samples.
        `jobs_as`: the jobs of `other` that this file lacks are this job (a fan-out's shards
        run the driver's job).
        """
        added = {t: 0 for t, _ in _MERGE_ORDER} | {"refused": 0}
        ids: dict[str, dict[int, int]] = {t: {} for t, _ in _MERGE_ORDER}
        fingerprints: dict[int, str] = {}  # other's workload id -> fingerprint
        columns = {t: self._columns(t) for t, _ in _MERGE_ORDER}
        refs = {
            "workload_id": "workloads",
            "target_id": "targets",
            "config_id": "configs",
            "job_id": "jobs",
            "model_id": "models",
        }
        with self._write() as c:
            for table, raw in other.dump():
                row = {k: v for k, v in dict(raw).items() if k in columns.get(table, ())}
                old_id = row.pop("id", None)
                if table == "workloads" and old_id is not None:
                    fingerprints[old_id] = row.get("fingerprint")
                fp = fingerprints.get(row.get("workload_id")) if table == "configs" else None
                row = clean_row(table, row, fp)
                missing = [
                    col
                    for col, parent in refs.items()
                    if row is not None and row.get(col) is not None and row[col] not in ids[parent]
                ]
                if row is None or missing:
                    added["refused"] += 1
                    continue
                for col, parent in refs.items():
                    if row.get(col) is not None:
                        row[col] = ids[parent][row[col]]
                if table == "jobs" and jobs_as is not None and old_id is not None:
                    known = c.execute("SELECT id FROM jobs WHERE uid=?", (row["uid"],)).fetchone()
                    ids["jobs"][old_id] = int(known[0]) if known else jobs_as
                    continue
                if own_shard and table in ("measurements", "baselines"):
                    row["host"] = raw.get("host")  # measured by this job's worker, on its host
                new_id = self._merge_row(c, table, row, added)
                if own_shard and table == "measurements" and new_id is not None:
                    _verdict(c, new_id, ids["measurements"].get(raw.get("paired_with")))
                if old_id is not None and new_id is not None:
                    ids[table][old_id] = new_id
        return added

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}

    def _merge_row(
        self, c: sqlite3.Connection, table: str, row: dict[str, Any], added: dict[str, int]
    ) -> int | None:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        if table == "models":
            found = c.execute(
                "SELECT id FROM models WHERE name=? AND compiler=?", (row["name"], row["compiler"])
            ).fetchone()
            if found:
                return int(found[0])
        elif table in ("model_workloads", "tuned", "job_models"):
            cur = c.execute(f"INSERT OR IGNORE INTO {table}({cols}) VALUES ({marks})", tuple(row.values()))
            added[table] += cur.rowcount
            return None
        else:
            key = dict(_MERGE_ORDER)[table]
            found = c.execute(f"SELECT id FROM {table} WHERE {key}=?", (row[key],)).fetchone()
            if found:
                return int(found[0])
        cur = c.execute(f"INSERT INTO {table}({cols}) VALUES ({marks})", tuple(row.values()))
        added[table] += 1
        return int(cur.lastrowid)
