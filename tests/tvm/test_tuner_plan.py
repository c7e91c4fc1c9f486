"""Trial allotment and the 'already tuned' rule of the model tuner (real SQLite, no tuning)."""

from __future__ import annotations

import pytest

from autotune.backends.tvm.tuner import ModelTuner, Subgraph, allot
from autotune.backends.tvm.workload import resolve_target
from autotune.db import open_db


@pytest.mark.parametrize("budget, shares", [(64, [1.0, 3.0, 0.0]), (5, [1.0] * 12), (0, [2.0, 1.0])])
def test_allot_spends_exactly_the_budget(budget, shares):
    out = allot(budget, shares)
    assert sum(out) == budget and all(n >= 0 for n in out)


def test_a_subgraph_tuned_with_zero_trials_counts_as_met(tmp_path):
    with open_db(tmp_path / "t.sqlite") as db:
        tuner = ModelTuner(db, resolve_target("llvm"))
        tid = tuner.msdb.target_id
        wid = db.add_workload("tvm:sh1:0", "tvm", "w", "{}")
        sg = Subgraph(task=None, name="w", workload_id=wid, weight=1, trials=0)
        assert not tuner._met(sg, tid)  # never finished
        db.mark_tuned(wid, tid, 0, None)
        assert tuner._met(sg, tid)  # finished with its (zero) allotment
        sg.trials = 8
        assert not tuner._met(sg, tid)  # a bigger budget tunes again
        tuner.close()
