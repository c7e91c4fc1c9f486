"""The MetaSchedule measure callback that commits every candidate's outcome as it happens.

Unlike MetaSchedule's `AddToDatabase`, failures are kept too, with their error text:
a build error, a run error, a timeout. Each outcome is its own committed transaction, so
a job killed at any moment keeps everything measured before the kill.

Example::

    recorder = RecordOutcomes(msdb, on_outcome=lambda status: bar.update(1))
    ms.tune_tasks(..., measure_callbacks=[recorder, "RemoveBuildArtifact", "UpdateCostModel"])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.database import TuningRecord, Workload
from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback

from autotune.backends.tvm.database import FAILED_RUN_SECS, MetaScheduleDatabase, trace_json


def classify(build_error: str | None, run_error: str | None, run_secs: list[float]) -> str:
    """The database status of one measured candidate."""
    if build_error:
        return "timeout" if "timeout" in build_error.lower() else "build_error"
    if run_error:
        return "timeout" if "timeout" in run_error.lower() else "run_error"
    if not run_secs or any(s >= FAILED_RUN_SECS for s in run_secs):
        return "run_error"
    return "ok"


@derived_object
class RecordOutcomes(PyMeasureCallback):
    """Writes each measured candidate (ok or failed) into our database."""

    def __init__(
        self, msdb: MetaScheduleDatabase, on_outcome: Callable[[int, str, float | None], None] | None = None
    ) -> None:
        super().__init__()
        self.msdb = msdb
        self.on_outcome = on_outcome

    def apply(
        self,
        task_scheduler: Any,
        task_id: int,
        measure_candidates: list[Any],
        builder_results: list[Any],
        runner_results: list[Any],
    ) -> None:
        mod = task_scheduler.tasks_[task_id].ctx.mod
        wid = self.msdb.add_workload(mod)
        workload = Workload(mod)
        for cand, built, ran in zip(measure_candidates, builder_results, runner_results):
            secs = [float(s) for s in (ran.run_secs or [])]
            status = classify(built.error_msg, ran.error_msg, secs)
            record = TuningRecord(cand.sch.trace, workload, None, self.msdb.target, cand.args_info)
            error = built.error_msg or ran.error_msg or ""
            self.msdb.db.record(
                wid,
                "trace",
                {"trace": trace_json(record)},
                self.msdb.target_id,
                status,
                secs if status == "ok" else [],
                error=str(error),
                job_id=self.msdb.job_id,
                source="tune",
            )
            if self.on_outcome is not None:
                self.on_outcome(wid, status, min(secs) if status == "ok" else None)
