"""Search strategies, the composer and the cost model against recorded measurements.

The recording (tests/replay/xla-mlp.json, made by record.py) holds every config of a
72-config XLA decision space of the bundled mlp as the real backend measured it; these
tests compile nothing, so they run in seconds, and every number they check is a
deterministic function of that recording and the code.
"""

from __future__ import annotations

import json
import statistics
import time

import pytest

from autotune.backends.base import Comparison
from autotune.db import open_db
from autotune.search import graph
from autotune.tuning.model import ModelTuner, Settings
from tests.replay.session import ReplayBackend

BE = ReplayBackend("xla-mlp")
OPT = min(statistics.median(o["samples"]) for o in BE.data["outcomes"] if o["samples"])


def tuner(db, **settings):
    session = BE.open(None, db, None)
    return ModelTuner(BE, session, db, None, Settings(**settings))


def tune(db, trials, **settings):
    t = tuner(db, **settings)
    plan = t.prepare("mlp", "mlp")
    assert t.tune(plan, trials, time.time() + 120)
    return t, plan


@pytest.mark.parametrize("kind", ["auto", *graph.kinds()])
def test_every_strategy_tunes_confirms_and_resumes(tmp_path, kind):
    with open_db(tmp_path / "r.sqlite") as db:
        t, plan = tune(db, 16, search=kind, cost_model="none", seed=0)
        (s,) = plan.workloads
        tune_rows = [o for o in db.outcomes(s.workload_id, t.target_id) if o["source"] == "tune"]
        assert len(tune_rows) == 16 == len({o["config_id"] for o in tune_rows}), "a config was measured twice"
        best = db.best(s.workload_id, t.target_id)
        assert best is not None and best.config  # the recorded default is slow: a winner exists
        assert t.session.median(best.config) < t.session.median({}) * 0.98
        e2e = t.end_to_end(plan)
        assert e2e["kept"] and e2e["config"] == best.config and e2e["speedup"] > 1.02
        # A second job with the same budget has nothing to do; a bigger one resumes.
        again = tuner(db, search=kind, cost_model="none", seed=0)
        plan2 = again.prepare("mlp", "mlp")
        assert again.pending(plan2, 16, force=False) == []
        assert again.tune(plan2, 24, time.time() + 120)
        rows = [o for o in db.outcomes(s.workload_id, t.target_id) if o["source"] == "tune"]
        assert len(rows) == 24 == len({o["config_id"] for o in rows}), "a resumed search repeated a config"


def test_a_model_the_clock_cut_goes_on_where_it_stopped(tmp_path):
    """A job gives a model its clock cut the time other models left (`go_on`): it searches
    the rest of the budget, confirms once, and then has nothing left to do."""
    with open_db(tmp_path / "r.sqlite") as db:
        t = tuner(db, search="tpe", cost_model="none", seed=0)
        plan = t.prepare("mlp", "mlp")
        assert not t.tune(plan, 16, time.time() - 1)  # no time at all: cut before it began
        (s,) = plan.workloads
        assert t.left(plan) == 16 and not plan.finished
        assert t.go_on(plan, time.time() + 120)
        rows = db.outcomes(s.workload_id, t.target_id)
        assert sum(o["source"] == "tune" for o in rows) == 16 and db.best(s.workload_id, t.target_id)
        assert t.left(plan) == 0 and plan.finished == {s.workload_id}
        assert t.go_on(plan, time.time() + 120) and len(db.outcomes(s.workload_id, t.target_id)) == len(rows)


def test_tuning_one_plan_again_to_a_bigger_budget_searches_the_difference(tmp_path):
    """`tune` is a new budget for the plan (as the benchmarks tune 64, then 256): what an
    earlier call finished is searched again up to the new count."""
    with open_db(tmp_path / "r.sqlite") as db:
        t, plan = tune(db, 8, search="tpe", cost_model="none", seed=0)
        (s,) = plan.workloads
        assert t.tune(plan, 20, time.time() + 120)
        assert sum(o["source"] == "tune" for o in db.outcomes(s.workload_id, t.target_id)) == 20


def test_exhaustive_measures_the_whole_space_once(tmp_path):
    with open_db(tmp_path / "r.sqlite") as db:
        t, plan = tune(db, 100, search="exhaustive", cost_model="none")
        (s,) = plan.workloads
        rows = [o for o in db.outcomes(s.workload_id, t.target_id) if o["source"] == "tune"]
        assert len(rows) == 71  # every config but the default, measured before the search
        found = min(t.session.median(json.loads(o["config"])) for o in rows)
        assert found == OPT


def test_the_cost_model_prunes_slow_configs(tmp_path):
    """Random proposals, the shipped GNN ranking 4 per measured trial: far fewer configs over
    2x the optimum are measured (recorded here: 6 vs 33 over four seeds)."""
    slow = {}
    for cm in ("none", "pretrained"):
        slow[cm] = 0
        for seed in range(4):
            with open_db(tmp_path / f"{cm}{seed}.sqlite") as db:
                t, _ = tune(db, 24, search="random", cost_model=cm, seed=seed)
                slow[cm] += sum(t.session.median(c) > 2 * OPT for c in t.session.measured[1:25])
    assert slow["pretrained"] * 2 < slow["none"], slow


def test_the_gnn_ranks_the_recording(tmp_path):
    from autotune.costmodel import base, metrics
    from autotune.costmodel.features.base import for_backend
    from autotune.costmodel.ranker import load_model

    w = BE.data["workload"]
    row = {"id": 1, "compiler": "xla", **w}
    outcomes = BE.data["outcomes"]
    graphs = for_backend("xla").graphs(row, [o["config"] for o in outcomes])
    assert all(g is not None for g in graphs)
    latency = [statistics.median(o["samples"]) for o in outcomes]
    gnn = metrics.evaluate(load_model("xla", "pretrained").predict(graphs), latency, [0] * len(latency))
    rnd = metrics.evaluate(base.create("random").predict(graphs), latency, [0] * len(latency))
    assert gnn["kendall_tau"] > 0.3 and gnn["kendall_tau"] > rnd["kendall_tau"] + 0.2, (gnn, rnd)


def test_a_best_that_loses_end_to_end_is_not_kept(tmp_path):
    """The job's own end-to-end comparison has the last word: a confirmed best that then
    measures slower than the default is demoted (the default is what compiles)."""
    with open_db(tmp_path / "r.sqlite") as db:
        t, plan = tune(db, 16, search="tpe", cost_model="none", seed=0)
        (s,) = plan.workloads
        best = db.best(s.workload_id, t.target_id)
        assert best is not None
        lost = Comparison("ok", [1e-3] * 5, [1.02e-3] * 5, config=best.config)  # 0.98x
        t.session.end_to_end = lambda model, rounds: lost
        e2e = t.end_to_end(plan)
        assert not e2e["kept"] and e2e["speedup"] == 1.0 and e2e["lost_speedup"] == pytest.approx(1 / 1.02)
        assert db.best(s.workload_id, t.target_id) is None
        last = db.latest_model_measurement(plan.model_id, t.target_id)
        assert last["speedup"] == 1.0


def test_verify_confirms_here_what_another_host_measured(tmp_path):
    """A merged database's candidates are applied only after `verify` re-measured them here."""
    from autotune.tuning.verify import verify

    with open_db(tmp_path / "r.sqlite") as db:
        t = tuner(db, search="exhaustive", cost_model="none")
        plan = t.prepare("mlp", "mlp")  # the workload and its default, measured here
        (s,) = plan.workloads
        for o in BE.data["outcomes"][:20]:  # another host's tuning runs
            if o["config"]:
                db.record(
                    s.workload_id, "options", o["config"], t.target_id, "ok", o["samples"], host="elsewhere"
                )
        assert db.best(s.workload_id, t.target_id) is None and db.unverified(t.target_id) == [s.workload_id]
        (line,) = list(verify(db, [BE], None, time_budget_s=60))
        assert line.outcome == "verified", line
        best = db.best(s.workload_id, t.target_id)
        assert best is not None and t.session.median(best.config) < t.session.median({})
        assert db.unverified(t.target_id) == []  # confirmed here since


def test_each_decision_of_a_best_has_its_measured_contribution(tmp_path):
    """`confirm.ablate`: the best without each of its decisions, timed against it, is what
    `TuningDatabase.contributions` and `autotune best` report for that decision."""
    from autotune.cli.best import summary
    from autotune.compare import paired_speedup

    with open_db(tmp_path / "r.sqlite") as db:
        t, plan = tune(db, 72, search="exhaustive", cost_model="none", seed=0)
        (s,) = plan.workloads
        best = db.best(s.workload_id, t.target_id)
        assert best is not None and best.config
        got = db.contributions(s.workload_id, t.target_id, best.config)
        assert set(got) == set(best.config) and len(got) > 1  # the recording's best has several
        for name, ratio in got.items():
            without = {k: v for k, v in best.config.items() if k != name}
            c = t.session.compare(s.workload, best.config, without, 10)
            assert ratio == pytest.approx(paired_speedup(c.tuned, c.default))
        ((row,),) = [summary(db, "mlp", str(t.target_id))["subgraphs"]]
        assert row["contributions"] == got
        # A config that was never ablated has no contributions to show.
        assert db.contributions(s.workload_id, t.target_id, {"x": 1, "y": 2}) == {}
