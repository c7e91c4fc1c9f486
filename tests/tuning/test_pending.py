"""The 'already tuned' rule of the composer, on a real SQLite file and a real TVM session (no tuning)."""

from __future__ import annotations

from autotune import backends
from autotune.backends.base import Workload
from autotune.db import open_db
from autotune.tuning.model import ModelTuner, Settings
from autotune.tuning.plan import WorkloadState


def test_a_workload_tuned_with_zero_trials_counts_as_met(tmp_path):
    be = backends.get("tvm")
    with open_db(tmp_path / "t.sqlite") as db, be.open(be.resolve_target("llvm"), db, None) as session:
        tuner = ModelTuner(be, session, db, None, Settings(cost_model="none"))
        wid = db.add_workload("tvm:sh1:0", "tvm", "w", "{}")
        s = WorkloadState(Workload("tvm:sh1:0", "w", "{}", {}), wid, [], trials=0)
        assert not tuner._met(s)  # never finished
        db.mark_tuned(wid, tuner.target_id, 0, None)
        assert tuner._met(s)  # finished with its (zero) allotment
        s.trials = 8
        assert not tuner._met(s)  # a bigger budget tunes again
        tuner.close()
