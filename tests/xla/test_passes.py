"""Contract tests for every XLA pass, and the discovery of options from the installed jaxlib.

Real JAX compiles: every decision a pass offers must be accepted by this jaxlib and applied
to the compiled executable.
"""

from __future__ import annotations

import random
import subprocess
import sys

import jax
import numpy as np
import pytest

from autotune import passes, zoo
from autotune.backends.xla.build import XlaBuild
from autotune.backends.xla.rewrite import program_ops
from autotune.backends.xla.worker import _changed_passes
from autotune.backends.xla.workload import arrays
from autotune.passes import xla_options
from autotune.passes.base import LEVELS
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def mlp():
    m = zoo.create("mlp", backend="xla")
    lowered = jax.jit(m.fn).lower(*m.example_args)
    info = {
        "args": arrays(m.example_args),
        "results": arrays(lowered.out_info),
        "changed_passes": _changed_passes(lowered),
        "options": xla_options.available(),
        "ops": program_ops(m.fn, tuple(m.example_args)),
    }
    return m, info


def test_discovered_options_are_accepted_by_this_jaxlib():
    opts = xla_options.available()
    assert opts, "no tunable XLA option found in the installed jaxlib"
    kinds = {
        r.kind for name in opts for r in xla_options.RULES if __import__("re").fullmatch(r.pattern, name)
    }
    assert kinds == {"fusion", "codegen"}
    # Probe every offered value in a child process (an option may abort the process using it).
    code = (
        "import json, sys, jax, jax.numpy as jnp\n"
        "from autotune.passes import xla_options as xo\n"
        "lo = jax.jit(lambda x: x * 2.0).lower(jnp.ones((4,)))\n"
        "bad = [(n, v) for n, i in xo.available().items() for v in xo.option_values(n, i)"
        " if xo._probe(lo, n, v)]\n"
        "print(json.dumps(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_unknown_rules_are_not_offered():
    assert xla_options.option_values("xla_cpu_no_such_thing", {"type": "bool"}) == []
    assert passes.kinds("xla") == [
        "xla-codegen",
        "xla-fusion",
        "xla-fusion-cut",
        "xla-layout",
        "xla-tensor-layout",
    ]


@pytest.mark.parametrize("name", passes.kinds("xla"))
def test_pass_contract(name, mlp):
    m, info = mlp
    p = passes.create(name)
    ds = p.decisions(info)
    assert ds, f"{name} offers no decision for mlp"
    assert len({d.name for d in ds}) == len(ds)
    for d in ds:
        assert d.level in LEVELS and d.default is None and len(d.choices) >= 2
    # Each decision's non-default choices land in the build, and nothing else does.
    for d in ds:
        for choice in d.choices[1:]:
            build = XlaBuild(info)
            p.apply({d.name: choice}, build)
            touched = (
                build.options,
                build.disabled_passes,
                build.in_layouts,
                build.out_layouts,
                build.rewrites,
            )
            assert sum(len(t) for t in touched) == 1, (d.name, choice, touched)
    build = XlaBuild(info)
    p.apply({"opt:not-mine": 1}, build)
    assert not (
        build.options or build.disabled_passes or build.in_layouts or build.out_layouts or build.rewrites
    )


@pytest.mark.parametrize("name", passes.kinds("xla"))
def test_pass_choices_compile_and_keep_results(name, mlp):
    """Random configs of each pass compile with real XLA; results match the default."""
    m, info = mlp
    ref = np.asarray(jax.jit(m.fn)(*m.example_args))
    ds = passes.create(name).decisions(info)
    rng = random.Random(0)
    for _ in range(3):
        config = {d.name: rng.choice(d.choices[1:]) for d in rng.sample(ds, min(2, len(ds)))}
        if any("onednn" in k for k in config):
            continue  # oneDNN fusions may abort this process: the isolated worker tests cover them
        build = XlaBuild.from_config(config, info)
        try:
            _, compiled = build.compile(m.fn, m.example_args)
        except Exception as exc:  # an option combination XLA refuses is a build error, not a bug
            assert "INVALID_ARGUMENT" in str(exc) or "UNIMPLEMENTED" in str(exc), exc
            continue
        out = np.asarray(compiled(*m.example_args))
        np.testing.assert_allclose(out, ref, rtol=2e-3, atol=1e-3)


def test_config_changes_the_compiled_program(mlp):
    m, info = mlp
    default = jax.jit(m.fn).lower(*m.example_args).compile().as_text()
    assert "dot-library-rewriter" in info["changed_passes"]
    _, compiled = XlaBuild.from_config({"disable:dot-library-rewriter": True}, info).compile(
        m.fn, m.example_args
    )
    assert "ynn" in default and "ynn" not in compiled.as_text()
    big = max(range(len(info["args"])), key=lambda i: np.prod(info["args"][i]["shape"]))
    _, compiled = XlaBuild.from_config({f"layout:in:{big}": "transposed"}, info).compile(m.fn, m.example_args)
    leaves = jax.tree_util.tree_leaves(compiled.input_formats[0])
    assert leaves[big].layout.major_to_minor == (1, 0)


def test_configs_that_do_not_apply_are_refused(mlp):
    _, info = mlp
    with pytest.raises(ValueError, match="unknown decision"):
        XlaBuild.from_config({"opt:xla_cpu_gone_in_this_version": True}, info)
    with pytest.raises(ValueError, match="no choice"):
        XlaBuild.from_config({"opt:xla_cpu_prefer_vector_width": 96}, info)


def test_space_lists_the_modules_decisions():
    """`autotune space` on a JAX model: the one module's decisions, from every XLA pass."""
    import json

    from tests.conftest import run_cli

    r = run_cli("space", "mlp", "--backend", "xla", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    space = json.loads(r.stdout)
    ((module,),) = [space["subgraphs"]]
    kinds = {d["kind"] for d in module["decisions"]}
    assert kinds == {"layout", "fusion", "codegen"}
    assert {d["level"] for d in module["decisions"]} == {"graph", "subgraph"}
    assert module["size"] == int(np.prod([len(d["choices"]) for d in module["decisions"]]))
    assert space["graph"]["decisions"] == []
