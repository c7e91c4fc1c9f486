"""TVM's graph level, on real builds: the contract of every TVM pass, the compile-time loader
applying a stored graph-level config (and falling back when it no longer applies), the
joint search end to end through the CLI, and `autotune space`."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from autotune import passes
from autotune.backends.tvm import graph, importer
from autotune.backends.tvm.workload import resolve_target, target_info
from autotune.db import open_db
from autotune.db.recorder import Recorder
from tests.conftest import run_cli
from tests.tvm.graph_models import conv_gelu

pytestmark = pytest.mark.timeout(600)

SOURCE = "tests/tvm/graph_models.py:conv_gelu"
GRAPH_TRIALS = 2  # graph-level configs of the joint search's CLI run


@pytest.fixture(scope="module")
def model():
    module, inputs = conv_gelu()
    mod = importer.to_relax(module, inputs)
    x = [t.numpy() for t in inputs]
    target = resolve_target("llvm")
    return mod, x, target, importer.run(importer.build_default(mod, target), x)


@pytest.mark.parametrize("name", passes.kinds("tvm"))
def test_every_decision_of_a_tvm_pass_builds_right_and_changes_the_subgraphs(model, name):
    """The contract of a TVM pass: it offers decisions for the model, each non-default choice
    builds, computes what the default build computes (within the output check's tolerance)
    and changes the subgraphs that are tuned; it applies only its own entries."""
    from tvm import tirx

    from autotune import compare
    from autotune.backends.tvm.workload import fingerprint

    mod, x, target, reference = model
    info = graph.graph_info(mod)
    p = passes.create(name)
    offered = p.decisions(info)
    assert offered, f"{name} offers nothing for a model with convolutions and a GELU"
    everything = graph.decisions(info)

    def subgraphs(build):
        fused = importer.fuse(mod, target, graph=build)
        return {fingerprint(f) for f in fused.functions.values() if isinstance(f, tirx.PrimFunc)}

    base = subgraphs(None)
    for d in offered:
        assert d.level in ("graph", "subgraph") and d.kind == p.kind
        for choice in d.choices:
            if choice in (d.default, None):
                continue
            config = passes.normalize({d.name: choice}, everything)
            build = graph.build_of(config)
            assert subgraphs(build) != base, f"{config} changes no subgraph"
            ex = importer.build_tuned(mod, target, _empty_msdb(), graph=build)
            assert compare.mismatch(importer.run(ex, x), reference) == "", config
    # Entries of other passes are left alone.
    untouched = graph.GraphBuild()
    p.apply({k: v for k, v in {"opt:xla_cpu_x": 1, "disable:foo": True}.items()}, untouched)
    assert untouched == graph.GraphBuild()


def _empty_msdb():
    from tvm.s_tir import meta_schedule as ms

    return ms.database.MemoryDatabase()


def _store_best(path, mod, target, config):
    """A database whose best graph-level config for the model is `config` (a confirmed win)."""
    with open_db(path) as db:
        tid = db.target_id(target_info(target))
        wid = db.add_workload(graph.graph_fingerprint(mod), "tvm-graph", "m:graph", "{}", {})
        Recorder(db, tid, None, "graph").pair(wid, config, [2e-3] * 5, [1e-3] * 5)
        assert db.best(wid, tid).config == config


def test_the_loader_applies_the_stored_graph_config_or_warns_once_when_it_no_longer_applies(model, tmp_path):
    import autotune.tvm

    mod, x, target, reference = model
    tanh = {"codegen:gelu": "tanh"}
    _store_best(tmp_path / "a.sqlite", mod, target, tanh)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a config that applies: no warning
        out = importer.run(autotune.tvm.compile(mod, "llvm", db=tmp_path / "a.sqlite"), x)
    expected = importer.run(importer.build_tuned(mod, target, _empty_msdb(), graph=graph.build_of(tanh)), x)
    np.testing.assert_array_equal(out[0], expected[0])  # built under the stored config
    assert not np.array_equal(out[0], reference[0])  # ... which is not the erf form
    # A config whose decision the model no longer has: TVM's own graph, one warning.
    _store_best(tmp_path / "b.sqlite", mod, target, {"layout:conv2d:1x3x99x99:8x3x3x3:s1x1:g1": True})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = importer.run(autotune.tvm.compile(mod, "llvm", db=tmp_path / "b.sqlite"), x)
    assert [str(w.message) for w in caught if "graph-level config no longer applies" in str(w.message)]
    assert len(caught) == 1, [str(w.message) for w in caught]
    np.testing.assert_allclose(out[0], reference[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        autotune.tvm.compile(mod, "llvm", db=tmp_path / "b.sqlite", strict=True)


@pytest.fixture(scope="module")
def joint_db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("joint")
    db, job = folder / "tuning.sqlite", folder / "job.toml"
    # No baselines (torch.compile alone takes 2-15 s) and 4 proposals ranked per graph-level
    # trial (each is fused by TVM's Relax pipeline to be ranked): the joint search, cheaper.
    job.write_text(f'[job]\nbaselines = []\nrank_pool = 4\n[[models]]\nname = "{SOURCE}"\n')
    args = ("tune", str(job), "--trials", "16", "--graph-trials", str(GRAPH_TRIALS))
    args += ("--db", str(db), "--no-progress")
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    return db, args, r.stdout


def test_the_joint_search_tunes_each_configs_subgraphs_once_and_keeps_only_a_confirmed_win(joint_db):
    from autotune import backends

    path, args, out = joint_db
    assert f"graph: {GRAPH_TRIALS} graph-level config(s) measured (" in out, out
    assert "ranked by their subgraphs' composition" in out, out  # the cost model chose them
    with open_db(path, readonly=True) as db:
        assert db.check() == []
        ((tid, _),) = db.targets()
        model = db.model(SOURCE)
        (gw,) = [w for w, _ in model["workloads"] if w["compiler"] == "tvm-graph"]
        rows = db.outcomes(gw["id"], tid)
        tuned = [json.loads(o["config"]) for o in rows if o["source"] == "tune"]
        assert len(tuned) == GRAPH_TRIALS and {} not in tuned
        assert len({json.dumps(c, sort_keys=True) for c in tuned}) == GRAPH_TRIALS, "a config measured twice"
        assert sum(o["source"] == "default" for o in rows) == 1
        be = backends.get("tvm")
        with be.open(be.resolve_target("llvm"), db, None) as session:
            m = session.load(SOURCE, be.load_model(SOURCE))
            for config in tuned:  # every subgraph of every measured config was tuned, once
                for w in session.workloads(m, config):
                    wid = db.workload_id(w.fingerprint)
                    assert wid is not None and db.tuned_trials(wid, tid) is not None, (config, w.name)
                    assert db.count(wid, tid, source="default") == 1
            best = db.best(gw["id"], tid)
            chosen = session.workloads(m, best.config if best else {})
        # The model as it compiles: the chosen config's subgraphs and the graph workload.
        parts = {w["fingerprint"] for w, _ in model["workloads"]}
        assert parts == {w.fingerprint for w in chosen} | {gw["fingerprint"]}
        if best is not None:  # a win was confirmed interleaved, and never gave a wrong result
            assert best.speedup > 1.0
            assert not [
                o for o in rows if o["status"] == "wrong_result" and json.loads(o["config"]) == best.config
            ]


def test_a_joint_search_run_again_measures_nothing_and_best_shows_the_graph(joint_db):
    path, args, _ = joint_db
    with open_db(path, readonly=True) as db:
        before = db.stats()
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "skipped" in r.stdout, r.stdout
    with open_db(path, readonly=True) as db:
        after = db.stats()
        assert after.pop("jobs") == before.pop("jobs") + 1
        assert after.pop("job_models") == before.pop("job_models") + 1  # what the job did: skipped
        assert after == before, "a re-run measured again, or lost the model's composition"
        # A job without the joint search keeps the model as it compiles (its graph config).
    r = run_cli("tune", args[1], "--trials", "16", "--db", str(path), "--no-progress")
    assert r.returncode == 0 and "skipped" in r.stdout, r.stdout + r.stderr[-2000:]
    with open_db(path, readonly=True) as db:
        after = db.stats()
        after.pop("jobs"), after.pop("job_models")
        assert after == before
    b = run_cli("best", SOURCE, "--db", str(path))
    assert b.returncode == 0, b.stderr[-2000:]
    assert ":graph" in b.stdout


@pytest.mark.slow  # the same job over Ray runs by default: tests/tuning/test_fanout.py
def test_the_graph_level_alone_leaves_every_kernel_at_tvms_default_schedule(tmp_path):
    """`--levels graph` on TVM: graph-level configs measured end to end over TVM's default
    schedules (the model's trials are its graph trials); MetaSchedule searches nothing."""
    path = tmp_path / "g.sqlite"
    r = run_cli(
        "tune", "--model", SOURCE, "--trials", "2", "--levels", "graph", "--db", str(path), "--no-progress"
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "graph: 2 graph-level config(s) measured" in r.stdout, r.stdout
    assert "left at the compiler's default schedules" in r.stdout, r.stdout
    with open_db(path, readonly=True) as db:
        ((tid, _),) = db.targets()
        kernels = db.workloads(compiler="tvm", with_ir=False)
        assert kernels and all(db.count(w["id"], tid, source="tune") == 0 for w in kernels)
        (gw,) = db.workloads(compiler="tvm-graph", with_ir=False)
        assert db.count(gw["id"], tid, source="tune") == 2


def test_space_lists_graph_and_subgraph_decisions(tmp_path):
    r = run_cli("space", SOURCE, "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    space = json.loads(r.stdout)
    names = [d["name"] for d in space["graph"]["decisions"]]
    assert {"layout:conv2d", "codegen:gelu", "codegen:softmax", "fusion:apart:gelu:1x8x16x16"} <= set(names)
    assert space["graph"]["size"] == np.prod([len(d["choices"]) for d in space["graph"]["decisions"]])
    assert len(space["subgraphs"]) == 3  # the two convolutions' kernels and the softmax
    convs = [s for s in space["subgraphs"] if "conv2d" in json.dumps(s)]
    assert len(convs) == 2
    for s in convs:
        kinds = {d["kind"] for d in s["decisions"]}
        assert {"tile", "codegen"} <= kinds and s["size"] > 100
    from autotune.cli.space import text  # what `autotune space` prints without --json (the JSON
    # run's space is the same data)

    printed = text(space)
    assert "layout:conv2d" in printed and "configs" in printed
    bad = run_cli("space", "no_such_model_xyz")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "error" in bad.stderr
