"""What jobs did, read back per job: the rows `autotune report` is made of.

A mixin of `SQLiteDatabase`: a job's model rows (`job_models`), its outcomes, its
end-to-end measurements, and what earlier jobs had already seen.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from autotune.db.records import canonical_json, parse_json


class SQLiteHistory:
    """Per-job reads and the job's model rows, over `self.conn`."""

    conn: sqlite3.Connection
    _write: Any  # () -> AbstractContextManager[sqlite3.Connection], of SQLiteDatabase

    def add_job_model(
        self,
        job_id: int,
        model: str,
        compiler: str,
        target_id: int | None,
        status: str,
        trials: int,
        failures: int,
        seconds: float | None,
        result: dict[str, Any],
    ) -> None:
        writing: AbstractContextManager[sqlite3.Connection] = self._write()
        with writing as c:
            c.execute(
                "INSERT OR REPLACE INTO job_models(job_id, model, compiler, target_id, status, trials,"
                " failures, seconds, result, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    job_id,
                    model,
                    compiler,
                    target_id,
                    status,
                    int(trials),
                    int(failures),
                    seconds,
                    canonical_json(result),
                    time.time(),
                ),
            )

    def job_models(self, job_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM job_models WHERE job_id=? ORDER BY rowid", (job_id,))
        out = []
        for r in rows.fetchall():
            d = dict(r)
            d["result"] = parse_json(d["result"], "job model result")
            out.append(d)
        return out

    def job(self, job_id: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["spec"] = parse_json(d["spec"], "job spec")
        return d

    def job_outcomes(self, job_id: int) -> Iterator[dict[str, Any]]:
        """Every measurement of a job, oldest first: id, workload_id, target_id, status,
        median, source, kind (of its config), error (its first line) and created_at."""
        rows = self.conn.execute(
            "SELECT m.id, c.workload_id, m.target_id, m.status, m.median, m.source, c.kind,"
            " substr(m.error, 1, 300) AS error, m.created_at FROM measurements m"
            " JOIN configs c ON c.id = m.config_id WHERE m.job_id=? ORDER BY m.id",
            (job_id,),
        )
        for r in rows:
            d = dict(r)
            d["error"] = d["error"].splitlines()[0] if d["error"] else ""
            yield d

    def job_model_measurements(self, job_id: int) -> list[dict[str, Any]]:
        """The end-to-end measurements a job took (`model_measurements`), with the model's
        name and compiler, oldest first."""
        rows = self.conn.execute(
            "SELECT mm.*, mo.name AS model, mo.compiler FROM model_measurements mm"
            " JOIN models mo ON mo.id = mm.model_id WHERE mm.job_id=? ORDER BY mm.id",
            (job_id,),
        )
        return [dict(r) for r in rows]

    def model_measurement_before(self, model_id: int, target_id: int, job_id: int) -> dict[str, Any] | None:
        """The latest end-to-end measurement of a model on a target taken by a job before
        `job_id` (the model's own last measured job, whichever jobs ran between)."""
        row = self.conn.execute(
            "SELECT * FROM model_measurements WHERE model_id=? AND target_id=? AND job_id < ?"
            " ORDER BY job_id DESC, id DESC LIMIT 1",
            (model_id, target_id, job_id),
        ).fetchone()
        return dict(row) if row is not None else None

    def versions_before(self, job_id: int) -> set[tuple[str, str]]:
        """(compiler, compiler version) of every target measured by jobs before this one."""
        rows = self.conn.execute(
            "SELECT DISTINCT t.compiler, t.compiler_version FROM targets t WHERE EXISTS"
            " (SELECT 1 FROM measurements m WHERE m.target_id = t.id AND m.job_id < ?)",
            (job_id,),
        )
        return {(r[0], r[1]) for r in rows}
