"""Whole-database operations of the SQLite store: statistics, validation, dump and merge.

A mixin of `SQLiteDatabase`, kept apart so that the per-record access stays short.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from autotune.db.base import TuningDatabase
from autotune.db.records import STATUSES, DatabaseError, config_key, parse_json, parse_samples

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
]


class SQLiteMaintenance:
    """stats / check / dump / merge_from over `self.conn` (an open sqlite3 connection)."""

    conn: sqlite3.Connection

    # --- whole-database operations ------------------------------------------------
    def stats(self) -> dict[str, int]:
        out = {}
        for table, _ in _MERGE_ORDER:
            out[table] = int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
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
        return problems

    def dump(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for table, _ in _MERGE_ORDER:
            for row in self.conn.execute(f"SELECT * FROM {table}"):
                yield table, dict(row)

    def merge_from(self, other: TuningDatabase) -> dict[str, int]:
        """Copy rows of `other` missing here, remapping ids by content keys and uids."""
        added = {t: 0 for t, _ in _MERGE_ORDER}
        ids: dict[str, dict[int, int]] = {t: {} for t, _ in _MERGE_ORDER}
        refs = {
            "workload_id": "workloads",
            "target_id": "targets",
            "config_id": "configs",
            "job_id": "jobs",
            "model_id": "models",
        }
        with self._write() as c:
            for table, row in other.dump():
                row = dict(row)
                old_id = row.pop("id", None)
                for col, parent in refs.items():
                    if col in row and row[col] is not None:
                        if row[col] not in ids[parent]:
                            raise DatabaseError(f"merge: {table} row refers to missing {parent} {row[col]}")
                        row[col] = ids[parent][row[col]]
                new_id = self._merge_row(c, table, row, added)
                if old_id is not None and new_id is not None:
                    ids[table][old_id] = new_id
        return added

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
        elif table in ("model_workloads", "tuned"):
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
