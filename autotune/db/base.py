"""The tuning-database extension point: the interface every store implements, and a registry.

Every implementation runs the same contract tests (tests/db/test_contract.py).

Example::

    from autotune.db import create
    with create("sqlite", "tuning.sqlite") as db:
        tid = db.target_id(target_info)
        wid = db.add_workload("tvm:sh1:...", "tvm", "fused_matmul", ir_text)
        db.record(wid, "trace", trace_json, tid, "ok", [1e-5, 1.1e-5])
        print(db.fastest(wid, tid, 3))   # candidates ranked by their tuning runs
        print(db.best(wid, tid))         # THE best: a confirmed winner over the default, or None
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any

from autotune.db.records import BestRecord, Confirmation, TargetInfo
from autotune.registry import Registry

#: Measurement source of an ablation: a best config and the same without one decision.
ABLATION = "ablation"


class TuningDatabase(abc.ABC):
    """A store of workloads, targets, configs and every measurement of them."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> TuningDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- identities ---------------------------------------------------------------
    @abc.abstractmethod
    def target_id(self, target: TargetInfo) -> int:
        """Id of a target, inserted if new."""

    @abc.abstractmethod
    def find_target(self, target: TargetInfo) -> int | None:
        """Id of a target, or None (never writes: for compile-time readers)."""

    @abc.abstractmethod
    def add_workload(
        self, fingerprint: str, compiler: str, name: str, ir: str, meta: dict | None = None
    ) -> int:
        """Id of a workload, inserted if new; keys of `meta` the stored workload lacks (a
        newer version of autotune describes more) are added, stored keys are kept."""

    @abc.abstractmethod
    def workload(self, fingerprint: str) -> dict[str, Any] | None:
        """A workload row (id, fingerprint, compiler, name, ir, meta) or None."""

    @abc.abstractmethod
    def workload_id(self, fingerprint: str) -> int | None:
        """The id of a workload fingerprint, or None (never writes)."""

    @abc.abstractmethod
    def workload_by_id(self, workload_id: int) -> dict[str, Any]:
        """A workload row by id; DatabaseError when there is none."""

    @abc.abstractmethod
    def workload_meta(self, workload_id: int, without: Sequence[str] = ()) -> dict[str, Any]:
        """A workload's meta dict without the named keys (compile-time readers skip large ones)."""

    @abc.abstractmethod
    def workloads(self, compiler: str | None = None, with_ir: bool = True) -> list[dict[str, Any]]:
        """Every workload row (of one compiler), by id; `with_ir=False` leaves the IR out
        (its "ir" is ""), for callers that only read names and meta."""

    @abc.abstractmethod
    def target_info(self, target_id: int) -> TargetInfo: ...

    @abc.abstractmethod
    def targets(self) -> list[tuple[int, TargetInfo]]: ...

    @abc.abstractmethod
    def has_target(self, target_id: int) -> bool: ...

    @abc.abstractmethod
    def latest_target(self, model_id: int) -> int | None:
        """The target a model's workloads were last measured on, or None."""

    @abc.abstractmethod
    def model(self, name: str, compiler: str | None = None) -> dict[str, Any] | None:
        """A model with its workloads [(workload row, weight)], or None."""

    @abc.abstractmethod
    def models(self) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def set_model(self, name: str, compiler: str, source: str, workloads: Sequence[tuple[int, int]]) -> int:
        """Record a model as its current (workload id, weight) set; returns the model id."""

    # --- outcomes -----------------------------------------------------------------
    @abc.abstractmethod
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
        """Store one measured outcome (the config is added if new); returns the measurement id.
        `host`: who measured it (default: this host; an import names where it came from)."""

    @abc.abstractmethod
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
        """Store an interleaved confirmation (source 'confirm') in one transaction: the
        default's samples, the candidate's, and its verdict by autotune.compare's rule (the
        paired speedup and whether it won). Returns the candidate's measurement id."""

    @abc.abstractmethod
    def fastest(self, workload_id: int, target_id: int, k: int = 1) -> list[BestRecord]:
        """The k fastest configs by their tuning runs (confirmations left out), fastest first;
        a config ever found to give wrong results is left out. Candidates, not the best."""

    @abc.abstractmethod
    def default_latency(self, workload_id: int, target_id: int) -> float | None:
        """Median latency of the compiler's default config, as the tuning runs timed it."""

    @abc.abstractmethod
    def confirmation(self, workload_id: int, target_id: int) -> Confirmation | None:
        """The latest interleaved comparison of a candidate against the default, won or lost."""

    @abc.abstractmethod
    def contributions(self, workload_id: int, target_id: int, config: dict[str, Any]) -> dict[str, float]:
        """What each decision of `config` contributed, measured here by removing it: the
        paired ratio (config without it / config, timed interleaved; above 1, it helps) of
        its latest ablation. A one-decision config's is its confirmation's speedup over the
        default. Decisions never ablated are left out."""

    @abc.abstractmethod
    def best(self, workload_id: int, target_id: int) -> BestRecord | None:
        """The best config, decided by one rule for every caller: the candidate of the latest
        confirmation measured on this host when it beat the default by `compare.WIN_MARGIN`
        and was never found to give wrong results; None means the compiler's default is the
        best. What a merge or an import brought in never decides it until re-measured here."""

    @abc.abstractmethod
    def unverified(self, target_id: int) -> list[int]:
        """Workloads with candidates measured elsewhere (merged, imported) since their latest
        confirmation here: what `autotune db verify` re-measures."""

    @abc.abstractmethod
    def best_for(self, fingerprint: str, target_id: int) -> BestRecord | None:
        """`best` by workload fingerprint: the compile-time lookup."""

    @abc.abstractmethod
    def count(self, workload_id: int, target_id: int, source: str | None = "tune") -> int:
        """Number of outcomes recorded for a workload on a target (any status)."""

    @abc.abstractmethod
    def count_ok(self, target_id: int) -> int:
        """Number of 'ok' measurements on a target."""

    @abc.abstractmethod
    def outcomes(self, workload_id: int, target_id: int) -> list[dict[str, Any]]:
        """Every measurement of a workload on a target, oldest first, with its config text."""

    @abc.abstractmethod
    def measurements_per_target(self) -> dict[int, int]: ...

    # --- jobs and tuned state -----------------------------------------------------
    @abc.abstractmethod
    def start_job(self, spec: dict) -> int: ...

    @abc.abstractmethod
    def finish_job(self, job_id: int, status: str) -> None: ...

    @abc.abstractmethod
    def jobs(self) -> list[dict[str, Any]]:
        """Every job (id, uid, started_at, finished_at, status, host, pid); one whose process
        was killed reads as 'interrupted' (and is marked so when a writer opens the file)."""

    @abc.abstractmethod
    def mark_tuned(self, workload_id: int, target_id: int, trials: int, job_id: int | None) -> None: ...

    @abc.abstractmethod
    def is_tuned(self, workload_id: int, target_id: int) -> bool: ...

    @abc.abstractmethod
    def tuned_trials(self, workload_id: int, target_id: int) -> int | None:
        """The trial budget a finished tuning of this workload met, or None if never finished."""

    @abc.abstractmethod
    def add_model_measurement(
        self,
        model_id: int,
        target_id: int,
        tuned: Sequence[float],
        default: Sequence[float],
        speedup: float,
        job_id: int | None = None,
    ) -> int: ...

    @abc.abstractmethod
    def latest_model_measurement(self, model_id: int, target_id: int) -> dict[str, Any] | None: ...

    @abc.abstractmethod
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
        """Store one measurement of a baseline (e.g. PyTorch eager): `samples` its seconds and
        `tuned` the tuned build's, timed interleaved, round by round; the medians and the
        paired speedup are computed here. Status: autotune.db.records.BASELINE_STATUSES."""

    @abc.abstractmethod
    def baselines(self, model_id: int, target_id: int) -> dict[str, dict[str, Any]]:
        """The latest baseline measured on this host per name, for a model on a target: rows
        with samples and tuned_samples as lists. Merged rows (other hosts) are never read."""

    @abc.abstractmethod
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
        """What a job did with one model (its report row, profile included); a later call for
        the same job and model replaces it."""

    @abc.abstractmethod
    def job_models(self, job_id: int) -> list[dict[str, Any]]:
        """The `add_job_model` rows of a job, in the order they were written, `result` parsed."""

    @abc.abstractmethod
    def job(self, job_id: int) -> dict[str, Any] | None:
        """A job row (spec parsed), or None."""

    @abc.abstractmethod
    def job_outcomes(self, job_id: int) -> Iterable[dict[str, Any]]:
        """Every measurement of a job, oldest first: id, workload_id, target_id, status,
        median, source, kind (of its config), error (its first line) and created_at."""

    @abc.abstractmethod
    def job_model_measurements(self, job_id: int) -> list[dict[str, Any]]:
        """The end-to-end measurements a job took, with the model's name and compiler."""

    @abc.abstractmethod
    def versions_before(self, job_id: int) -> set[tuple[str, str]]:
        """(compiler, compiler version) of every target measured by jobs before this one."""

    @abc.abstractmethod
    def stats(self) -> dict[str, int]: ...

    @abc.abstractmethod
    def check(self) -> list[str]:
        """Problems found in the stored data (empty when healthy)."""

    @abc.abstractmethod
    def merge_from(
        self, other: TuningDatabase, own_shard: bool = False, jobs_as: int | None = None
    ) -> dict[str, int]:
        """Copy everything of another database that this one lacks; returns counts added.
        `own_shard`: a shard of this job's own fan-out (hosts and verdicts kept); `jobs_as`:
        the jobs of `other` unknown here are this job."""

    @abc.abstractmethod
    def dump(self) -> Iterable[tuple[str, dict[str, Any]]]:
        """Every row as (table, row dict), parents before children: the input of a merge."""


REGISTRY: Registry[type[TuningDatabase]] = Registry("database kind", set_name=False)
register = REGISTRY.register
kinds = REGISTRY.kinds


def create(kind: str, *args: Any, **kwargs: Any) -> TuningDatabase:
    """An implementation by name, e.g. `create("sqlite", path)`."""
    return REGISTRY.create(kind, *args, **kwargs)
