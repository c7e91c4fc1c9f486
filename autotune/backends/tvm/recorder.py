"""The MetaSchedule measure callback that commits every candidate's outcome as it happens.

Unlike MetaSchedule's `AddToDatabase`, failures are kept too, with their error text:
a build error, a run error, a timeout. Each outcome is its own committed transaction, so
a job killed at any moment keeps everything measured before the kill.

Example::

    recorder = RecordOutcomes(Recorder(db, target_id, job_id, "trace"), target, msdb.add_workload, on_outcome)
    ms.tune_tasks(..., measure_callbacks=[recorder, "RemoveBuildArtifact", "UpdateCostModel"])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.database import TuningRecord, Workload
from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback

from autotune import interrupts
from autotune.backends.tvm.database import trace_json
from autotune.compare import failed_run
from autotune.db.recorder import Recorder


def classify(build_error: str | None, run_error: str | None, run_secs: list[float]) -> str:
    """The database status of one measured candidate."""
    if build_error:
        return "timeout" if "timeout" in build_error.lower() else "build_error"
    if run_error:
        return "timeout" if "timeout" in run_error.lower() else "run_error"
    if failed_run(run_secs):
        return "run_error"
    return "ok"


@derived_object
class RecordOutcomes(PyMeasureCallback):
    """Writes each measured candidate (ok or failed) into our database."""

    def __init__(
        self,
        record: Recorder,
        target: Any,
        workload_id: Callable[[Any], int],
        on_outcome: Callable[[int, str, float | None], None] | None = None,
    ) -> None:
        super().__init__()
        self.record, self.target, self.workload_id = record, target, workload_id
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
        wid = self.workload_id(mod)
        workload = Workload(mod)
        for cand, built, ran in zip(measure_candidates, builder_results, runner_results):
            secs = [float(s) for s in (ran.run_secs or [])]
            status = classify(built.error_msg, ran.error_msg, secs)
            record = TuningRecord(cand.sch.trace, workload, None, self.target, cand.args_info)
            error = built.error_msg or ran.error_msg or ""
            self.record(wid, {"trace": trace_json(record)}, status, secs, error=str(error))
            if self.on_outcome is not None:
                self.on_outcome(wid, status, min(secs) if status == "ok" else None)
        interrupts.check()  # a Ctrl-C during the batch stops the search here, the batch recorded
