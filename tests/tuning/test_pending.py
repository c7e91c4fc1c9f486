"""The 'already tuned' rule of the composer, on a real SQLite file and a real TVM session (no tuning)."""

from __future__ import annotations

import pytest

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


def test_the_gap_pass_gives_the_rest_of_the_budget_where_the_best_is_furthest_above_its_floor(tmp_path):
    """The bundled mlp's three subgraphs, their defaults measured for real: the first pass
    spreads half of 64 trials by default time; once those are spent, the gap pass gives the
    other 32 by weight x (best - roofline floor), and a job run again gives nothing more."""
    be = backends.get("tvm")
    with open_db(tmp_path / "t.sqlite") as db, be.open(be.resolve_target("llvm"), db, None) as session:
        tuner = ModelTuner(be, session, db, None, Settings(cost_model="none"))
        plan = tuner.prepare("mlp", "mlp")
        first = tuner.pending(plan, 64, force=False)
        assert len(first) == 3 and plan.first == 32 == sum(s.trials for s in first)
        assert tuner.gap_left(plan, force=False) == 32
        for s in first:  # the first pass, as if searched: its allotment met
            db.mark_tuned(s.workload_id, tuner.target_id, s.trials, None)
        gaps = {s.name: tuner.gap(s) for s in plan.workloads}
        for s in plan.workloads:
            floor = session.floor(s.workload)
            assert floor is not None and 0 < floor < s.default_s  # untuned TIR is far off its roofline
            assert gaps[s.name] == pytest.approx(s.workload.weight * (s.default_s - floor))
        more = tuner.by_gap(plan, force=False)
        given = {g.name: g.trials for g in plan.by_gap}
        assert sum(given.values()) == 32 and all(n % 16 == 0 for n in given.values())
        largest = max(gaps, key=gaps.__getitem__)
        assert given[largest] == max(given.values())
        for s in more:  # now searched as well
            db.mark_tuned(s.workload_id, tuner.target_id, s.trials, None)
        again = tuner.pending(plan, 64, force=False)
        assert again == [] and tuner.gap_left(plan, force=False) == 0 and tuner.by_gap(plan, False) == []
        tuner.close()
