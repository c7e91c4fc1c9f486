"""Warm starts across workloads: traces of a similar subgraph, replayed, measured, correct."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from autotune import compare
from autotune.backends.tvm import measure, traces, transfer
from autotune.backends.tvm.workload import resolve_target

pytestmark = pytest.mark.timeout(400)


class TwoLayers(torch.nn.Module):
    """Two dense layers of one shape (64 -> 64 on 32 rows), the second with a ReLU, and a
    third of another shape (64 -> 48): three subgraphs, all of the same leading operator."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = torch.nn.Linear(64, 64), torch.nn.Linear(64, 64), torch.nn.Linear(64, 48)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(torch.relu(self.b(self.a(x))))


def test_leading_op_names_the_anchor_operator():
    assert transfer.leading_op("fused_conv2d_add_relu1") == "conv2d"
    assert transfer.leading_op("fused_matmul_add") == "matmul"
    assert transfer.leading_op("matmul1") == "matmul"
    assert transfer.leading_op("fused_conv2d1_add2") == "conv2d"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """The first dense subgraph tuned (16 trials) into a real database; the session kept."""
    from autotune import backends
    from autotune.db import open_db
    from autotune.tuning.model import ModelTuner
    from autotune.tuning.plan import Settings
    from autotune.zoo.model import ZooModel

    torch.manual_seed(0)
    target = resolve_target("llvm")
    be = backends.get("tvm")
    db = open_db(tmp_path_factory.mktemp("transfer") / "t.sqlite")
    job = db.start_job({"test": "transfer"})
    session = be.open(target, db, job)
    tuner = ModelTuner(be, session, db, job, Settings(search="evolutionary", cost_model="none"))
    plan = tuner.prepare("two", "two", ZooModel("two", TwoLayers().eval(), (torch.randn(32, 64),)))
    by_shape = sorted(plan.workloads, key=lambda s: s.workload_id)
    first = next(
        s for s in by_shape if "relu" not in s.name and s.workload.meta["args_info"][1][2] == [64, 64]
    )
    assert tuner.subgraph_search.run(first.workload.handle, 16) > 0
    yield db, session, tuner, plan, first
    tuner.close()
    session.close()
    db.close()


def _mod(state):
    return state.workload.handle.dispatched[0]


def _other(plan):
    """The 64 -> 48 layer: the structure of the tuned one, other shapes."""
    return next(s for s in plan.workloads if s.workload.meta["args_info"][1][2] == [64, 48])


def test_a_similar_subgraph_replays_the_fastest_traces_and_computes_the_same(tuned):
    db, session, _, plan, first = tuned
    other = _other(plan)
    found = transfer.similar_schedules(
        db, session.target_id, _mod(other), other.name, 4, session.target, exclude=other.workload_id
    )
    assert found, "a dense layer of other shapes takes the tuned one's traces"
    assert len(found) <= 4
    prim = _mod(other)
    check = measure.random_args(prim, seed=5, prepacked=False)
    want = measure.run_func(measure.build_func(prim, session.target), check)
    for config, sch_mod in found:
        assert traces.check(config["trace"]) == ""
        replayed = measure.apply_trace(prim, config["trace"])  # the stored config reproduces it
        for m in (sch_mod, replayed):
            got = measure.run_func(measure.build_func(m, session.target, prepacked=False), check)
            assert compare.mismatch(got, want) == ""
    relu = next(s for s in plan.workloads if "relu" in s.name)
    sources = transfer.similar_workloads(db, relu.name, relu.workload.meta["args_info"], relu.workload_id)
    assert sources == [first.workload_id, other.workload_id], "most shapes in common first"


def test_sources_share_shapes_first_then_are_nearest_in_size(tmp_path):
    """A 3x3 convolution of 128 channels at 28x28 shares no argument shape with ResNet's
    other stages; theirs (same dtypes and ranks) are its sources, the nearest first."""
    from autotune.db import open_db

    def conv(c: int, hw: int) -> list:
        args = [[1, c, hw, hw], [c, c, 3, 3], [1, c, 1, 1], [1, c, hw, hw]]
        return [["TENSOR", "float32", a] for a in args]

    with open_db(tmp_path / "t.sqlite") as db:
        ids = {
            key: db.add_workload(f"tvm:{key}", "tvm", name, "{}", {"args_info": info})
            for key, name, info in [
                ("s1", "fused_conv2d_add_relu", conv(64, 56)),
                ("s3", "fused_conv2d_add_relu2", conv(256, 14)),
                ("s4", "fused_conv2d_add_relu3", conv(512, 7)),
                ("same", "fused_conv2d_add_relu4", conv(128, 28)),
                ("dense", "fused_matmul_add", [["TENSOR", "float32", [128, 128]]] * 3),
                ("rank", "fused_conv2d_add", conv(128, 28)[:3]),
            ]
        }
        got = transfer.similar_workloads(db, "fused_conv2d_add_relu9", conv(128, 28), exclude=-1)
    assert got[0] == ids["same"], "every shape in common"
    assert got[1] == ids["rank"], "three shapes in common, other arguments"
    # None in common: nearest in size first; stages 1 and 3 are as far (2x the channels, half
    # the width, or the reverse): the newest first.
    assert got[2:] == [ids["s3"], ids["s1"], ids["s4"]]


def test_traces_that_fail_the_check_are_never_replayed(tuned):
    db, session, _, plan, first = tuned
    bad = [[["Annotate", ["b0", "x"], ["pragma_import_llvm"], []]], []]
    assert traces.check(bad)
    # The hostile trace is the fastest record of the source workload.
    rec = db.fastest(first.workload_id, session.target_id)[0]
    db.record(first.workload_id, "trace", {"trace": bad}, session.target_id, "ok", [rec.median / 10])
    other = _other(plan)
    found = transfer.similar_schedules(
        db, session.target_id, _mod(other), other.name, 8, session.target, exclude=other.workload_id
    )
    assert found and all("pragma_import_llvm" not in str(c["trace"]) for c, _ in found)


def test_a_replay_that_computes_something_else_is_refused(tuned):
    """A trace can replay on another workload and compute wrong results (a weight layout
    rewrite made for another shape): the check against the untuned module catches it."""
    _, session, _, plan, first = tuned
    relu = next(s for s in plan.workloads if "relu" in s.name)
    check = transfer._Check(_mod(relu), session.target)
    assert check(_mod(relu))
    assert not check(_mod(first)), "the same shapes without the ReLU compute something else"


def test_a_rank_orders_the_replays_before_they_are_checked(tuned):
    """With `rank`, the replays that apply are checked best score first (here: the reverse of
    the most-similar-first order), at most 2 x limit checks as without it."""
    import tvm_ffi

    db, session, _, plan, _ = tuned
    other = _other(plan)
    pool = list(transfer._replays(db, session.target_id, _mod(other), other.name, other.workload_id))
    assert len(pool) >= 2, "the tuned layer's fastest traces replay on the other"
    seen: list[int] = []

    def reverse(schedules):
        seen.append(len(schedules))
        return list(range(len(schedules)))  # the last replay scores best

    found = transfer.similar_schedules(
        db, session.target_id, _mod(other), other.name, 1, session.target, other.workload_id, rank=reverse
    )
    assert seen == [min(len(pool), transfer.RANK_POOL)]
    assert [tvm_ffi.structural_hash(m) for _, m in found] == [
        tvm_ffi.structural_hash(pool[min(len(pool), transfer.RANK_POOL) - 1].mod)
    ]
    plain = transfer.similar_schedules(
        db, session.target_id, _mod(other), other.name, 1, session.target, other.workload_id
    )
    assert [tvm_ffi.structural_hash(m) for _, m in plain] == [tvm_ffi.structural_hash(pool[0].mod)]


def test_a_fresh_workload_measures_the_transferred_traces_first(tuned):
    db, session, tuner, plan, _ = tuned
    other = _other(plan)
    search = tuner.subgraph_search
    context = search._contexts(other.workload.handle)[0][0]
    before = db.count(other.workload_id, session.target_id)
    t0 = time.time()
    n = search.warm_start(context, other.workload_id, trials=32)
    assert 1 <= n <= 4 and time.time() - t0 < 120
    assert db.count(other.workload_id, session.target_id) == before + n
    fastest = [r for r in db.fastest(other.workload_id, session.target_id, k=n + 1) if r.kind != "default"]
    assert len(fastest) == n and all(np.isfinite(r.median) and r.median > 0 for r in fastest)
    assert search.warm_start(context, other.workload_id, trials=7) == 0, "under 8 trials: no warm start"


class LastBest:
    """A score model that ranks the candidates it is given in reverse: the last scores best."""

    def __init__(self) -> None:
        self.predicted = 0

    def predict(self, graphs):
        self.predicted += len(graphs)
        return np.arange(len(graphs), dtype=np.float64)


def test_with_our_cost_model_the_warm_start_measures_what_it_ranks_best(tuned):
    """A search with our cost model has it score the replays (`ScoreModelCostModel.scores`)
    and measures the best-scored one, not the most similar source's."""
    from autotune.backends.tvm.database import plain_trace
    from autotune.costmodel.metaschedule import ScoreModelCostModel

    db, session, tuner, plan, _ = tuned
    other = _other(plan)
    pool = list(transfer._replays(db, session.target_id, _mod(other), other.name, other.workload_id))
    assert len(pool) >= 2
    search = tuner.subgraph_search
    context = search._contexts(other.workload.handle)[0][0]
    model = LastBest()
    saved = search.cost_model, search.uses_gnn
    search.cost_model, search.uses_gnn = ScoreModelCostModel(model), True
    try:
        n = search.warm_start(context, other.workload_id, trials=8)  # at most 1
    finally:
        search.cost_model, search.uses_gnn = saved
    assert n == 1 and model.predicted == min(len(pool), transfer.RANK_POOL)
    last = db.outcomes(other.workload_id, session.target_id)[-1]
    want = pool[model.predicted - 1].trace
    assert json.loads(last["config"])["trace"] == json.loads(json.dumps(plain_trace(want)))


def test_a_log_handler_metaschedule_did_not_name_does_not_break_the_search(tuned):
    """MetaSchedule rebuilds its logging config from its logger's handler names and fails on
    an unnamed one (e.g. left by a logging setup of the user's); the search drops those."""
    import logging

    _, _, tuner, plan, _ = tuned
    root = logging.getLogger("tvm.s_tir.meta_schedule")
    root.addHandler(logging.StreamHandler())
    contexts, _ = tuner.subgraph_search._contexts(plan.workloads[0].workload.handle)
    assert contexts and all(h.get_name() for h in root.handlers)
