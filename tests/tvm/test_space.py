"""The TVM design space: register-blocked tiles beside MetaSchedule's, weight layout rewriting,
and traces of both that replay, check out and compute what the default computes."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from tvm.s_tir import meta_schedule as ms

from autotune import compare
from autotune.backends.tvm import importer, measure, register_tile, space, traces
from autotune.backends.tvm.database import plain_trace
from autotune.backends.tvm.fastimport import import_tensor_intrin
from autotune.backends.tvm.workload import resolve_target

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def target():
    return resolve_target("llvm")


@pytest.fixture(scope="module")
def dense_task(target):
    """nn.Linear(64 -> 128) on 32 rows, fused with its bias; the weight is layout-free."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 128)
    fused = importer.fuse(importer.to_relax(lin, (torch.randn(32, 64),)), target)
    tasks = ms.relax_integration.extract_tasks(fused, target)
    assert len(tasks) == 1
    return tasks[0]


def _samples(task, target, n: int):
    """Postprocessed random samples of each design space: (space index, schedule)."""
    from tvm import s_tir
    from tvm.s_tir.schedule import Trace

    import_tensor_intrin()
    ctx = ms.TuneContext(
        task.dispatched[0],
        target=target,
        space_generator=space.design_space(target),
        search_strategy="replay-trace",
        num_threads=int(target.export()["num-cores"]),
    )
    out = []
    for i, sp in enumerate(ctx.generate_design_space()):
        got = 0
        for seed in range(1, 20 * n):
            sch = s_tir.Schedule(task.dispatched[0], seed=seed)
            try:  # the design space's program, with fresh random decisions
                Trace(sp.trace.insts, {}).apply_to_schedule(sch, remove_postproc=True)
            except Exception:  # a sampled combination the primitives refuse
                continue
            if all(p.apply(sch) for p in ctx.space_generator.postprocs):
                out.append((i, sch))
                got += 1
                if got == n:
                    break
    return out


def _reference(prim, target):
    """Random inputs (weights in their original layout) and the untuned module's outputs."""
    check = measure.random_args(prim, seed=3, prepacked=False)
    return check, measure.run_func(measure.build_func(prim, target), check)


def _replayed_and_checked(prim, sch, target, reference):
    """A sample's trace as stored (plain JSON, passing `traces.check`), replayed on `prim`;
    asserts that the replay computes the reference's outputs. Returns (trace, replayed)."""
    check, want = reference
    trace = plain_trace(sch.trace)
    json.dumps(trace)  # plain JSON
    assert traces.check(trace) == ""
    replayed = measure.apply_trace(prim, trace)
    got = measure.run_func(measure.build_func(replayed, target, prepacked=False), check)
    assert compare.mismatch(got, want) == ""
    return trace, replayed


def test_vector_lanes_match_the_target(target):
    lanes = space.vector_lanes(target)
    assert lanes in (1, 4, 8, 16)


def test_register_tile_plans_the_dense_block(dense_task):
    from tvm import s_tir

    sch = s_tir.Schedule(dense_task.dispatched[0])
    blocks = [sch.get(b) for b in sch.get_child_blocks(sch.get_sblock("root"))]
    plans = [register_tile.plan(b, 16) for b in blocks]
    assert [p is not None for p in plans] == [b.init is not None for b in blocks]
    vec, row, tiles = next(p for p in plans if p)
    assert (vec, row) == (1, 0), "vectors along the output features, rows along the batch"
    assert tiles and all(w % 16 == 0 for w in tiles)
    assert all(h * max(1, w // 16) <= register_tile.MAX_ACCUMULATORS for w, hs in tiles.items() for h in hs)


def test_register_tiles_compute_what_the_default_computes_and_their_traces_check_out(dense_task, target):
    if space.vector_lanes(target) < 4:
        pytest.skip("no vector registers on this CPU: the rule adds no space")
    samples = _samples(dense_task, target, n=2)
    spaces = {i for i, _ in samples}
    assert len(spaces) >= 2, "MetaSchedule's space and at least one register-tiled space"
    prim = dense_task.dispatched[0]
    reference = _reference(prim, target)
    rewritten = 0
    for _, sch in samples:
        trace, replayed = _replayed_and_checked(prim, sch, target, reference)
        rewritten += any(inst[0] == "TransformLayout" for inst in trace[0])
        # As deployed (weights packed beforehand) it runs on the packed shapes.
        packed = measure.random_args(replayed, seed=3)
        measure.run_func(measure.build_func(replayed, target), packed)
    assert rewritten, "RewriteLayout packed the layout-free weight in some candidate"


def test_a_reduction_of_one_input_gets_no_register_tile(target):
    """Softmax's max and sum reduce one input along its last axis: vectors along the
    output's last axis would be gathers (LLVM took 56 s to build one such tile)."""
    from tvm import s_tir

    x = torch.randn(1, 2, 32, 32)
    fused = importer.fuse(importer.to_relax(torch.nn.Softmax(dim=-1), (x,)), target)
    (task,) = ms.relax_integration.extract_tasks(fused, target)
    sch = s_tir.Schedule(task.dispatched[0])
    blocks = [sch.get(b) for b in sch.get_child_blocks(sch.get_sblock("root"))]
    reductions = [b for b in blocks if b.init is not None]
    assert len(reductions) == 2  # the max and the sum
    assert all(
        register_tile.plan(b, 16) is None and register_tile.plan_channels(b, 16) is None for b in reductions
    )


@pytest.fixture(scope="module")
def conv_task(target):
    """A 3x3 conv2d in NCHW whose width (14) no whole vector divides; 32 output channels."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 32, 3, padding=1, bias=False).eval()
    fused = importer.fuse(importer.to_relax(conv, (torch.randn(1, 8, 14, 14),)), target)
    (task,) = ms.relax_integration.extract_tasks(fused, target)
    return task


def test_a_conv_whose_width_no_vector_divides_is_tiled_along_its_output_channels(conv_task):
    from tvm import s_tir

    sch = s_tir.Schedule(conv_task.dispatched[0])
    (block,) = [
        sch.get(b) for b in sch.get_child_blocks(sch.get_sblock("root")) if sch.get(b).init is not None
    ]
    assert register_tile.plan(block, 16) is None, "no vector along the width of 14"
    vec, row, tiles = register_tile.plan_channels(block, 16)
    assert (vec, row) == (1, 3), "vectors along the output channels, rows along the width"
    assert set(tiles) == {16, 32} and tiles[16] == [1, 2, 7, 14]
    assert register_tile.plan_channels(block, 64) is None, "32 channels fill no vector of 64 lanes"


def test_channel_tiles_compute_what_the_default_computes(conv_task, target):
    if space.vector_lanes(target) < 4:
        pytest.skip("no vector registers on this CPU: the rule adds no space")
    samples = _samples(conv_task, target, n=1)
    prim = conv_task.dispatched[0]
    reference = _reference(prim, target)
    relaid = 0
    for _, sch in samples:
        _replayed_and_checked(prim, sch, target, reference)
        # The accumulators, the 32 output channels innermost (NHWC), the vectors along them.
        relaid += any(
            b.name == "conv2d_nchw_global" and [int(x) for x in b.shape] == [1, 14, 14, 32]
            for b in sch.get(sch.get_sblock("root")).alloc_buffers
        )
    assert relaid, "some candidate keeps its accumulators with the channels innermost"


def test_index_maps_of_anything_but_index_arithmetic_are_refused():
    good = {"root_index": 1, "nodes": [{"type": "None"}, {"type": "tirx.IndexMap", "data": {}}]}
    call = {"root_index": 1, "nodes": [{"type": "None"}, {"type": "tirx.IndexMap"}, {"type": "tirx.Call"}]}
    rootless = {"root_index": 0, "nodes": [{"type": "ir.Var"}]}

    def trace(index_map: str):
        return [[["TransformLayout", ["b0", index_map], [0, 1, None], []]], []]

    assert traces.check(trace(json.dumps(good))) == ""
    assert "tirx.Call" in traces.check(trace(json.dumps(call)))
    assert "root" in traces.check(trace(json.dumps(rootless)))
    assert "characters" in traces.check(trace("{" + " " * traces.MAX_INDEX_MAP + "}"))
    assert "not JSON" in traces.check(trace("{nope"))


def test_a_tuned_dense_packs_its_weight_once_at_build_time(target, tmp_path):
    """The tuned executable's main takes the input only (the packed weight is a constant)
    and matches PyTorch."""
    from autotune import backends
    from autotune.db import open_db
    from autotune.tuning.model import ModelTuner
    from autotune.tuning.plan import Settings
    from autotune.zoo.model import ZooModel

    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Linear(64, 128))
    x = torch.randn(32, 64)
    be = backends.get("tvm")
    with open_db(tmp_path / "t.sqlite") as db:
        job = db.start_job({"test": "layout rewriting"})
        with be.open(target, db, job) as session:
            tuner = ModelTuner(be, session, db, job, Settings(cost_model="none"))
            plan = tuner.prepare("lin", "lin", ZooModel("lin", lin.eval(), (x,)))
            tuner.tune(plan, trials=16, deadline=time.time() + 240)
            tuner.close()
        ex = be.compile(importer.to_relax(lin, (x,)), target, db)
    out = importer.run(ex, [x.numpy()])[0]
    np.testing.assert_allclose(out, lin(x).detach().numpy(), rtol=1e-3, atol=1e-3)


def test_tuning_and_loading_run_tvm_on_the_target_cores(target):
    """TVM's runtime alone takes half an x86 machine's logical CPUs; ours takes num-cores."""
    import os
    import subprocess
    import sys

    code = (
        "import tvm, autotune.tvm\n"
        "from autotune.backends.tvm import importer\n"
        "from autotune import zoo\n"
        "m = zoo.create('mlp')\n"
        "mod = importer.to_relax(m.module, m.example_inputs)\n"
        "autotune.tvm.compile(mod, 'llvm', db='/nonexistent.sqlite')\n"
        "print(tvm.get_global_func('runtime.NumThreads')())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TVM_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) == int(target.export()["num-cores"])
    env["TVM_NUM_THREADS"] = "1"  # the user's choice wins
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240)
    assert int(out.stdout.split()[-1]) == 1
