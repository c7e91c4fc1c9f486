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


def test_the_gain_pass_reads_each_workloads_curve_from_the_database(tmp_path):
    """The bundled mlp's three subgraphs, their defaults measured for real, candidates
    recorded: the first pass spreads half of 64 trials by default time; what the gain pass
    expects of a workload's next round is `expected_gain` of its recorded curve (failures
    included, defaults and confirmations not), bounded by its roofline; a job run again
    gives nothing more."""
    from autotune.tuning.budget import expected_gain

    be = backends.get("tvm")
    with open_db(tmp_path / "t.sqlite") as db, be.open(be.resolve_target("llvm"), db, None) as session:
        tuner = ModelTuner(be, session, db, None, Settings(cost_model="none"))
        plan = tuner.prepare("mlp", "mlp")
        first = tuner.pending(plan, 64, force=False)
        assert len(first) == 3 and plan.first == 32 == sum(s.trials for s in first)
        assert tuner.gain_left(plan, force=False) == 32
        unit = tuner.ctx.settings.trials_per_iter
        a, b, c = plan.workloads
        for s in plan.workloads:  # nothing measured yet: the best is the default
            floor = session.floor(s.workload)
            assert floor is not None and 0 < floor < s.default_s  # untuned TIR is far off its roofline
            assert tuner.gain(s) == pytest.approx(
                expected_gain([s.default_s], s.workload.weight, unit, floor)
            )
        # a: a round that reached a tenth of its default, one failure; b: a round at its default.
        curves = {
            a.workload_id: [a.default_s / 2] * 7 + [float("inf")] + [a.default_s / 10] * 8,
            b.workload_id: [b.default_s] * 16,
            c.workload_id: [session.floor(c.workload)] * 4,  # c: at its roofline already
        }
        for wid, curve in curves.items():
            for i, secs in enumerate(curve):
                ok = secs != float("inf")
                tuner.ctx.record(wid, {"candidate": i}, "ok" if ok else "run_error", [secs] * 3 if ok else [])
        tuner.ctx.record(a.workload_id, {"candidate": 0}, "ok", [1e-9] * 3, source="confirm")  # not a trial
        for s in (a, b):
            want = expected_gain(
                [s.default_s, *curves[s.workload_id]], s.workload.weight, unit, session.floor(s.workload)
            )
            assert tuner.gain(s) == pytest.approx(want) and want > 0
        assert tuner.gain(c) == 0.0
        for s in first:  # the first pass, as if searched: its allotment met
            s.done = db.count(s.workload_id, tuner.target_id)
            db.mark_tuned(s.workload_id, tuner.target_id, s.trials, None)
        left = tuner.gain_left(plan, force=False)
        assert 0 < left < 32  # b's 16 candidates are more than its share of the first pass
        a.done = a.trials = max(a.trials, a.done) + left  # the gain pass, as if searched: all to a
        db.mark_tuned(a.workload_id, tuner.target_id, a.trials, None)
        again = tuner.pending(plan, 64, force=False)
        assert again == [] and tuner.gain_left(plan, force=False) == 0
        tuner.close()
