"""The outcome recorder: the one place where a tuning job writes what it measured.

Bound to one database, target and job; every backend, search and confirmation records
through it, so every outcome (ok, build error, run error, timeout, wrong result) is one
committed transaction with the same fields.

Example::

    rec = Recorder(db, target_id, job_id, kind="options")
    rec(wid, {"opt:xla_cpu_prefer_vector_width": 512}, "ok", [1.2e-3, 1.1e-3])
    rec.pair(wid, config, default_samples, samples)        # an interleaved confirmation
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autotune.db.base import ABLATION, TuningDatabase


class Recorder:
    """Writes outcomes of one job on one target; the config kind is "default" for `{}`."""

    def __init__(self, db: TuningDatabase, target_id: int, job_id: int | None, kind: str) -> None:
        self.db, self.target_id, self.job_id, self.kind = db, target_id, job_id, kind

    def __call__(
        self,
        workload_id: int,
        config: Any,
        status: str,
        samples: Sequence[float] = (),
        error: str = "",
        source: str = "tune",
    ) -> int:
        kind = "default" if config in ({}, None) else self.kind
        return self.db.record(
            workload_id,
            kind,
            {} if config is None else config,
            self.target_id,
            status,
            samples if status == "ok" else (),
            error=error,
            job_id=self.job_id,
            source=source,
        )

    def pair(self, workload_id: int, config: Any, default: Sequence[float], tuned: Sequence[float]) -> None:
        """An interleaved confirmation of a candidate against the default, recorded as one
        pair with its verdict (`TuningDatabase.record_pair`)."""
        self.db.record_pair(workload_id, self.kind, config, self.target_id, default, tuned, self.job_id)

    def ablation(
        self,
        workload_id: int,
        config: dict[str, Any],
        without: dict[str, Any],
        with_samples: Sequence[float],
        without_samples: Sequence[float],
    ) -> None:
        """One decision's contribution: `config`, then `config` without that decision, timed
        interleaved (this order is what `TuningDatabase.contributions` reads)."""
        self(workload_id, config, "ok", with_samples, source=ABLATION)
        self(workload_id, without, "ok", without_samples, source=ABLATION)
