"""Subgraph-level XLA decisions: rewrites of the traced program (tensor layouts, fusion cuts),
compiled for real, reproduced by `autotune.jax.jit`, and refused when the program changed."""

from __future__ import annotations

import json
import random
import sqlite3
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import autotune.jax
from autotune import passes, zoo
from autotune.backends.xla.build import XlaBuild
from autotune.backends.xla.rewrite import Rewrite, StaleRewrite, program_ops, rewritten
from autotune.backends.xla.workload import fingerprint, target_info
from autotune.db import open_db

pytestmark = pytest.mark.timeout(300)

SUBGRAPH_PASSES = ("xla-tensor-layout", "xla-fusion-cut")


@pytest.fixture(scope="module", params=["gpt-block", "convnet"])
def model(request):
    m = zoo.create(request.param, backend="xla")
    args = tuple(m.example_args)
    return m.fn, args, {"ops": program_ops(m.fn, args)}


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_program_ops_are_the_large_tensors_around_contractions(model):
    fn, args, info = model
    ops = info["ops"]
    assert ops and all(len(o["shape"]) >= 2 for o in ops)
    assert [o["i"] for o in ops] == sorted(o["i"] for o in ops)
    contractions = {"dot_general", "conv_general_dilated"}
    assert contractions & {o["op"] for o in ops}
    assert any(o["feeds"] for o in ops)
    # Listed from the traced program: the same in every trace.
    assert program_ops(fn, args) == ops


@pytest.mark.parametrize("name", SUBGRAPH_PASSES)
def test_subgraph_passes_offer_few_decisions_that_compile_and_keep_results(name, model):
    fn, args, info = model
    p = passes.create(name)
    ds = p.decisions(info)
    assert 1 <= len(ds) <= 6 and len({d.name for d in ds}) == len(ds)
    assert all(d.level == "subgraph" and d.kind == p.kind and d.default is None for d in ds)
    ref = _leaves(jax.jit(fn)(*args))
    rng = random.Random(0)
    for _ in range(2):
        config = {d.name: rng.choice(d.choices[1:]) for d in ds}
        build = XlaBuild.from_config(config, info)
        assert sorted(build.rewrites) == sorted(int(k.split(":")[1]) for k in config)
        _, compiled = build.compile(fn, args)
        for a, b in zip(_leaves(compiled(*args)), ref):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)


def test_rewrites_reach_the_compiled_program():
    m = zoo.create("mlp", backend="xla")
    args = tuple(m.example_args)
    layout = Rewrite(0, "dot_general", (8, 256), layout=(1, 0))
    cut = Rewrite(4, "dot_general", (8, 256), cut=True)
    lowered = jax.jit(rewritten(m.fn, args, [layout, cut])).lower(*args)
    text = lowered.as_text()
    assert "@LayoutConstraint" in text and "stablehlo.optimization_barrier" in text
    assert "f32[8,256]{0,1}" in lowered.compile().as_text()  # the column-major tensor XLA kept
    assert "optimization_barrier" not in jax.jit(rewritten(m.fn, args, [])).lower(*args).as_text()


def test_a_rewrite_of_a_changed_program_is_refused():
    m = zoo.create("mlp", backend="xla")
    args = tuple(m.example_args)
    with pytest.raises(StaleRewrite, match="it was mul"):
        rewritten(m.fn, args, [Rewrite(0, "mul", (8, 256), cut=True)])
    with pytest.raises(StaleRewrite, match="the program has"):
        rewritten(m.fn, args, [Rewrite(999, "dot_general", (8, 256), cut=True)])
    build = XlaBuild({"ops": []})
    build.rewrite(0, "dot_general", (8, 256), cut=True)
    with pytest.raises(StaleRewrite, match="static"):
        build.jit(m.fn, args, static_argnums=1)
    # XLA CPU cannot compile a layout constraint without its algebraic simplifier.
    build.rewrite(0, "dot_general", (8, 256), layout=(1, 0))
    build.disabled_passes.append("algsimp")
    with pytest.raises(ValueError, match="needs the HLO pass algsimp"):
        build.jit(m.fn, args)


def _tuned_db(path, fn, args, config, ops):
    """A database in which `config` won its interleaved confirmation for `fn`."""
    fp = fingerprint(jax.jit(fn).lower(*args))
    with open_db(path) as db:
        tid = db.target_id(target_info("cpu"))
        wid = db.add_workload(fp, "xla", "f", "", {"ops": ops, "args": [], "results": [], "options": {}})
        db.record_pair(wid, "options", config, tid, [2e-3] * 3, [1e-3] * 3)
    return wid


def _fn(x, w):
    return jnp.tanh(x @ w) @ w.T


def test_jit_reproduces_the_measured_rewrite_and_falls_back_when_stale(tmp_path):
    args = (jnp.ones((64, 32)), jnp.ones((32, 48)) * 0.01)
    ops = program_ops(_fn, args)
    (cut,) = [d for d in passes.create("xla-fusion-cut").decisions({"ops": ops}) if "dot_general" in d.name][
        :1
    ]
    config = {cut.name: True}
    wid = _tuned_db(tmp_path / "t.sqlite", _fn, args, config, ops)
    ref = _leaves(jax.jit(_fn)(*args))
    f = autotune.jax.jit(_fn, db=tmp_path / "t.sqlite")
    np.testing.assert_allclose(_leaves(f(*args))[0], ref[0], rtol=1e-5)
    assert f.last.config == config
    assert "optimization_barrier" in f.lower(*args).as_text()
    # The stored program description no longer matches what this function traces to.
    stale = [dict(o, op="mul", uses=2) if o["i"] == int(cut.name.split(":")[1]) else o for o in ops]
    with sqlite3.connect(tmp_path / "t.sqlite") as conn:
        conn.execute("UPDATE workloads SET meta=? WHERE id=?", (json.dumps({"ops": stale}), wid))
    config = {cut.name.replace("dot_general", "mul"): True}
    with open_db(tmp_path / "t.sqlite") as db:
        ((tid, _),) = db.targets()
        db.record_pair(wid, "options", config, tid, [2e-3] * 3, [1e-3] * 3)
    g = autotune.jax.jit(_fn, db=tmp_path / "t.sqlite")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np.testing.assert_array_equal(_leaves(g(*args))[0], ref[0])
    assert not g.last.tuned and "it was mul" in g.last.reason
    assert sum("does not apply" in str(w.message) for w in caught) == 1


def test_a_job_searches_only_the_levels_it_is_given(tmp_path):
    from tests.conftest import run_cli

    db = tmp_path / "levels.sqlite"
    r = run_cli(
        "tune", "--backend", "xla", "--model", "convnet", "--trials", "4", "--levels", "subgraph",
        "--db", str(db), "--no-progress",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    with open_db(db, readonly=True) as store:
        ((w, _),) = store.model("convnet", "xla")["workloads"]
        ((tid, _),) = store.targets()
        configs = [json.loads(o["config"]) for o in store.outcomes(w["id"], tid) if o["source"] == "tune"]
        assert len(configs) >= 4 and all(configs)
        assert {name.split(":")[0] for c in configs for name in c} <= {"tensor", "cut"}
        assert store.workload_meta(w["id"])["ops"]  # what the loader applies the rewrites from


def test_stored_workloads_gain_the_program_description(tmp_path):
    """A workload recorded before the program was described gets its `ops` when seen again."""
    with open_db(tmp_path / "d.sqlite") as db:
        wid = db.add_workload("xla:h1:abc", "xla", "f", "", {"args": [1]})
        assert db.add_workload("xla:h1:abc", "xla", "f", "", {"args": [2], "ops": [3]}) == wid
        assert db.workload_meta(wid) == {"args": [1], "ops": [3]}
