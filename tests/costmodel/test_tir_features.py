"""The `tir` featurizer and the MetaSchedule cost-model adapter on a real TVM workload.

A single-operator model goes through the importer and MetaSchedule's task extraction; real
traces are sampled from its design space (as the evolutionary search samples them) and
stored in a real database as the tuner stores them; nothing is built or measured.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import tvm
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.database import TuningRecord, Workload

from autotune import zoo
from autotune.backends.tvm import importer, measure
from autotune.backends.tvm.database import MetaScheduleDatabase
from autotune.backends.tvm.fastimport import import_tensor_intrin
from autotune.backends.tvm.workload import resolve_target
from autotune.costmodel.features.base import create
from autotune.costmodel.features.tir import STORE_DIM, TIRFeaturizer, loop_tree
from autotune.costmodel.metaschedule import ScoreModelCostModel, latency, positive_scores
from autotune.db.sqlite import SQLiteDatabase

pytestmark = pytest.mark.timeout(300)

BAD_TRACE = {"trace": [[["GetSBlock", [], ["no_such_block", "main"], ["b0"]]], []]}


@pytest.fixture(scope="module")
def target():
    return resolve_target("llvm")


@pytest.fixture(scope="module")
def workload_mod(target):
    m = zoo.create("op-dense-8x128x64")
    mod = importer.to_relax(m.module, m.example_inputs)
    tasks = ms.relax_integration.extract_tasks(importer.fuse(mod, target), target)
    assert len(tasks) == 1
    return tasks[0].dispatched[0]


def _context(mod, target, strategy=None):
    import_tensor_intrin()
    return ms.TuneContext(
        mod,
        target=target,
        space_generator="post-order-apply",
        search_strategy=strategy,
        task_name="dense",
        rand_state=1,
        num_threads=1,
    )


@pytest.fixture(scope="module")
def stored(workload_mod, target, tmp_path_factory):
    """(workload row, trace configs) as the tuner stores them: 5 sampled, post-processed traces."""
    ctx = _context(workload_mod, target)
    spaces = ctx.generate_design_space()
    db = SQLiteDatabase(tmp_path_factory.mktemp("db") / "t.sqlite")
    msdb = MetaScheduleDatabase(db, target)
    for seed in range(1, 6):
        sch = tvm.s_tir.Schedule(workload_mod, seed=seed)
        unsampled = tvm.s_tir.Trace(spaces[seed % len(spaces)].trace.insts, {})  # decisions re-drawn
        unsampled.apply_to_schedule(sch, remove_postproc=True)
        assert all(p.apply(sch) for p in ctx.space_generator.postprocs)
        msdb.commit_tuning_record(TuningRecord(sch.trace, Workload(workload_mod), run_secs=[1e-3 * seed]))
    (row,) = db.workloads("tvm")
    records = db.fastest(row["id"], msdb.target_id, 10)
    assert len(records) == 5 and all(r.kind == "trace" for r in records)
    return row, [r.config for r in records]


@pytest.fixture(scope="module")
def graphs(stored):
    row, configs = stored
    return TIRFeaturizer().graphs(row, [{}, *configs])


def test_registry_and_dims():
    f = create("tir")
    assert isinstance(f, TIRFeaturizer) and f.backend == "tvm"
    sig = f.signature()
    assert sig["vocab_version"] == "tir-1"
    assert (sig["node_dim"], sig["graph_dim"], sig["flat_dim"]) == (173, 8, 2 * STORE_DIM)


def test_shapes_dtypes_and_ranges(graphs):
    assert len(graphs) == 6 and all(g is not None for g in graphs)
    for i, g in enumerate(graphs):
        n = g.x.shape[0]
        assert g.x.dtype == torch.float32 and g.x.shape == (n, TIRFeaturizer.NODE_DIM)
        assert g.edge_index.dtype == torch.int64 and g.edge_index.shape[0] == 2
        assert g.g.dtype == torch.float32 and g.g.shape == (1, TIRFeaturizer.GRAPH_DIM)
        assert g.flat.dtype == torch.float32 and g.flat.shape == (1, TIRFeaturizer.FLAT_DIM)
        for t in (g.x, g.g, g.flat):
            assert torch.isfinite(t).all()
        assert int(g.edge_index.min()) >= 0 and int(g.edge_index.max()) < n
        is_loop = g.x[:, -1]
        assert set(is_loop.tolist()) <= {0.0, 1.0} and 0 < int((is_loop == 0).sum()) < n
        stores = g.x[is_loop == 0, :STORE_DIM]
        assert torch.allclose(g.flat[0, :STORE_DIM], stores.sum(0))
        assert torch.allclose(g.flat[0, STORE_DIM:], stores.max(0).values)
        assert g.g[0, 3] == (1.0 if i == 0 else 0.0)  # is_default
    # Every schedule computes the same flops.
    assert len({round(float(g.g[0, 2]), 3) for g in graphs}) == 1


def test_default_graph_is_the_unscheduled_tir(graphs):
    """matmul (3 loops), add (2), relu (2): 3 stores, 7 loops; edges both directions:
    4 loop->loop, 3 loop->store, 2 store->store."""
    g = graphs[0]
    assert g.x.shape[0] == 10 and int(g.x[:, -1].sum()) == 7
    assert g.edge_index.shape[1] == 2 * (4 + 3 + 2)
    loops = g.x[3:, STORE_DIM : STORE_DIM + 8]
    assert sorted(torch.exp2(loops[:, 0]).round().tolist()) == [9, 9, 9, 65, 65, 65, 129]  # extent + 1
    assert loops[:, 1].sum() == 7  # all serial


def test_different_schedules_give_different_graphs(graphs):
    xs = {tuple(g.x.flatten().tolist()) for g in graphs}
    flats = {tuple(g.flat.flatten().tolist()) for g in graphs}
    assert len(xs) == len(graphs) and len(flats) == len(graphs)
    # Scheduled candidates are parallelised and vectorised; the default is not.
    assert graphs[0].g[0, 4] == 0 and all(g.g[0, 4] > 0 and g.g[0, 5] > 0 for g in graphs[1:])


def test_store_nodes_follow_per_store_feature_order(stored, workload_mod):
    """The walk finds the buffers PerStoreFeature emits, in the same order and count."""
    row, configs = stored
    f = TIRFeaturizer()
    for config in configs:
        mod = measure.apply_trace(workload_mod, config["trace"])
        (stores,) = f.store_features([tvm.s_tir.Schedule(mod)])
        assert stores.shape[1] == STORE_DIM and len(loop_tree(mod).order) == stores.shape[0]


def test_bad_configs_give_none(stored):
    row, configs = stored
    f = TIRFeaturizer()
    out = f.graphs(row, [BAD_TRACE, configs[0], {"trace": "garbage"}, {}])
    assert out[0] is None and out[2] is None
    assert out[1] is not None and out[3] is not None
    assert f.graphs({"ir": "not json"}, [{}, configs[0]]) == [None, None]


class CountingModel:
    """A trivial score model: fewer loop nodes = faster; remembers what it was given."""

    def __init__(self) -> None:
        self.predicted = 0
        self.updates: list[tuple[list, list[float], list[int]]] = []

    def predict(self, graphs):
        self.predicted += len(graphs)
        return np.array([-float(g.x[:, -1].sum()) for g in graphs])

    def update(self, graphs, relative, groups):
        self.updates.append((list(graphs), list(relative), list(groups)))


def test_cost_model_inside_evolutionary_search(workload_mod, target):
    """MetaSchedule's own evolutionary search asks our adapter for scores (through C++),
    then the adapter learns from fabricated run results."""
    strategy = ms.search_strategy.EvolutionarySearch(
        population_size=16, init_min_unmeasured=8, genetic_num_iters=1, max_fail_count=3
    )
    ctx = _context(workload_mod, target, strategy)
    model = CountingModel()
    cm = ScoreModelCostModel(model, by_sketch=False)
    strategy.pre_tuning(4, 4, ctx.generate_design_space(), ms.database.MemoryDatabase(), cm)
    cands = strategy.generate_measure_candidates()
    strategy.post_tuning()
    assert cands and model.predicted >= 16

    scores = cm.predict(ctx, cands)  # the FFI path: C++ calls back into Python
    assert scores.dtype == np.float64 and scores.shape == (len(cands),) and (scores > 0).all()
    want = positive_scores(model.predict([cm.graphs(ctx, [c])[0] for c in cands]))
    assert np.allclose(scores, want)

    assert len(cands) == 4
    secs = [[2e-3, 4e-3], [1e-3], [], [1e9]]
    results = [ms.runner.RunnerResult(run_secs=s, error_msg=None) for s in secs]
    assert [latency(r) for r in results] == pytest.approx([3e-3, 1e-3, None, None])
    cm.update(ctx, cands, results)  # failed runs are skipped
    ((graphs, relative, groups),) = model.updates
    assert len(graphs) == 2 and groups == [0, 0]
    assert relative == pytest.approx([1.5, 0.5])  # by the first batch's median, 2 ms
    cm.update(ctx, cands[1:2], results[1:2])
    assert model.updates[-1][1] == pytest.approx([0.5]) and model.updates[-1][2] == [0]
    assert cm.measured == 3


def test_unreadable_candidates_score_zero(workload_mod, target):
    ctx = _context(workload_mod, target)
    cm = ScoreModelCostModel(CountingModel(), by_sketch=False)
    cands = [ms.search_strategy.MeasureCandidate(s, []) for s in ctx.generate_design_space()[:2]]
    assert (cm.predict(ctx, cands) > 0).all()
    featurize = cm.featurizer.graphs_of_modules
    cm.featurizer.graphs_of_modules = lambda items, context=None: [None] + featurize(items[1:], context)
    cm._cache.clear()
    scores = cm.predict(ctx, cands)
    assert scores[0] == 0.0 and scores[1] > 0
    cm.featurizer.graphs_of_modules = lambda items, context=None: [None] * len(items)
    cm._cache.clear()
    assert (cm.predict(ctx, cands) == 1.0).all()  # nothing readable: sample uniformly
    assert positive_scores(np.array([np.nan, -1e4, 0.0])).tolist() == pytest.approx([0.0, 0.0, np.log(2)])


def test_first_batch_ranks_within_each_sketch(workload_mod, target):
    """Candidates of one sketch share a sketch key whatever their decisions; in a workload's
    first batch every sketch's best candidate (by the model) scores the top score, and the
    order within a sketch is the model's; after its first measurements the model's scores."""
    from autotune.costmodel.metaschedule import by_sketch_scores, sketch_key

    ctx = _context(workload_mod, target)
    spaces = ctx.generate_design_space()
    cands = []
    for space in spaces:
        for seed in range(1, 9):
            sch = tvm.s_tir.Schedule(workload_mod, seed=seed)
            space.trace.apply_to_schedule(sch, remove_postproc=True)
            cands.append(ms.search_strategy.MeasureCandidate(sch, []))
    keys = np.array([sketch_key(c.sch.trace) for c in cands])
    per_space = [set(keys[i * 8 : (i + 1) * 8].tolist()) for i in range(len(spaces))]
    assert all(len(k) == 1 for k in per_space) and len(set().union(*per_space)) >= 2, per_space
    plain = ScoreModelCostModel(CountingModel(), by_sketch=False).predict(ctx, cands)
    cm = ScoreModelCostModel(CountingModel(), by_sketch=True)
    first = cm.predict(ctx, cands)
    for k in set(keys.tolist()):
        idx = np.nonzero(keys == k)[0]
        assert first[idx].max() == pytest.approx(plain.max())
        assert (np.diff(first[idx][np.argsort(-plain[idx], kind="stable")]) <= 1e-12).all()
    assert np.allclose(cm.scores(ctx, cands), plain), "scores: the model's own, never by sketch"
    cm.update(ctx, cands[:2], [ms.runner.RunnerResult([1e-3], None)] * 2)
    assert np.allclose(cm.predict(ctx, cands), plain)
    assert by_sketch_scores(np.array([5.0, 4.0, 1.0, 0.5]), np.array([0, 0, 1, 1])).tolist() == [
        5.0,
        2.5,
        5.0,
        2.5,
    ]


def test_adapter_with_our_model_kinds(workload_mod, target):
    """Our own model kinds plug in: signatures are checked, replay_all hands over history."""
    from autotune.costmodel import base

    ctx = _context(workload_mod, target)
    sig = TIRFeaturizer().signature()
    with pytest.raises(ValueError, match="tir-0"):
        ScoreModelCostModel(base.create("random", signature={**sig, "vocab_version": "tir-0"}))
    cm = ScoreModelCostModel(base.create("random", signature=sig), replay_all=True)
    cands = []
    for seed in range(1, 7):
        sch = tvm.s_tir.Schedule(workload_mod, seed=seed)
        ctx.generate_design_space()[0].trace.apply_to_schedule(sch, remove_postproc=True)
        cands.append(ms.search_strategy.MeasureCandidate(sch, []))
    for lo in (0, 3):
        secs = [[1e-3 * (1 + i)] for i in range(lo, lo + 3)]
        cm.update(ctx, cands[lo : lo + 3], [ms.runner.RunnerResult(s, None) for s in secs])
    assert len(cm._seen[0]) == 6 and cm.measured == 6
    scores = cm.predict(ctx, cands)
    assert np.isfinite(scores).all() and (scores > 0).all()


def test_op_models_for_data_collection():
    """Every data-collection shape builds a seeded single-op model; bad names say the forms."""
    from autotune.zoo.ops import DATA_OPS

    assert len(DATA_OPS) >= 16 and len(set(DATA_OPS)) == len(DATA_OPS)
    for spec in DATA_OPS:
        m = zoo.create(spec)
        assert m.name == spec and not m.module.training
        with torch.no_grad():
            out = m.module(*m.example_inputs)
        assert torch.isfinite(out).all()
    a, b = zoo.create("op-dense-4x8x2"), zoo.create("op-dense-4x8x2")
    assert torch.equal(a.module.fc.weight, b.module.fc.weight)
    assert zoo.create("op-conv2d-1x3x8x8x4x3").module(torch.ones(1, 3, 8, 8)).shape == (1, 4, 8, 8)
    assert zoo.create("op-bmm-2x3x4x5").module(*zoo.create("op-bmm-2x3x4x5").example_inputs).shape == (
        2,
        3,
        5,
    )
    assert zoo.create("op-pool-1x2x8x8x2").module(torch.ones(1, 2, 8, 8)).shape == (1, 2, 4, 4)
    assert zoo.create("op-reduce-6x10").module(torch.ones(6, 10)).tolist() == [6.0] * 10
    for bad in ("op-dense-8x512", "op-gemm-1x2x3", "op-softmax-0x4", "op-conv2d-1xAx2x2x2x1", "op-"):
        with pytest.raises(zoo.UnknownModelError, match="forms: op-dense-BATCHxINxOUT") as err:
            zoo.create(bad)
        assert "\n" not in str(err.value)
