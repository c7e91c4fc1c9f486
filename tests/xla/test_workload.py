"""XLA workload identity: fingerprints stable across processes and names, target rows."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from autotune import zoo
from autotune.backends.xla import workload as wl
from autotune.errors import UserError
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)


def _lower(fn, *args):
    return jax.jit(fn).lower(*args)


def test_fingerprint_ignores_python_names_but_not_computation():
    x, w = jnp.ones((8, 16)), jnp.ones((16, 4))

    def model(inp, weight):
        return jax.nn.relu(inp @ weight)

    def other_name(a, b):
        return jax.nn.relu(a @ b)

    fp = wl.fingerprint(_lower(model, x, w))
    assert fp.startswith(wl.FINGERPRINT_PREFIX)
    assert fp == wl.fingerprint(_lower(other_name, x, w))
    assert fp != wl.fingerprint(_lower(lambda a, b: jnp.tanh(a @ b), x, w))  # op
    assert fp != wl.fingerprint(_lower(model, jnp.ones((4, 16)), w))  # shape
    assert fp != wl.fingerprint(_lower(model, x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)))  # dtype


def test_fingerprint_is_stable_across_processes():
    code = (
        "import jax; from autotune import zoo; from autotune.backends.xla import workload as wl\n"
        "for n in ['mlp', 'gpt-block']:\n"
        "    m = zoo.create(n, backend='xla'); print(wl.fingerprint(jax.jit(m.fn).lower(*m.example_args)))\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
        for _ in range(2)
    ]
    here = []
    for n in ["mlp", "gpt-block"]:
        m = zoo.create(n, backend="xla")
        here.append(wl.fingerprint(jax.jit(m.fn).lower(*m.example_args)))
    assert runs[0].stdout.split() == runs[1].stdout.split() == here
    assert len(set(here)) == 2


def test_hlo_before_and_after_optimization():
    m = zoo.create("mlp", backend="xla")
    lowered = jax.jit(m.fn).lower(*m.example_args)
    before = wl.hlo_text(lowered)
    after = wl.optimized_hlo_text(lowered.compile())
    assert "dot(" in before and "ENTRY" in before
    assert "fusion" in after and before != after
    assert wl.arrays(m.example_args)[-1] == {"shape": [8, 128], "dtype": "float32"}


def test_target_info_and_platforms():
    info = wl.target_info("cpu")
    assert info.compiler == "xla" and info.kind == "cpu"
    assert info.compiler_version == importlib.metadata.version("jaxlib")
    assert info.libraries["jax"] == jax.__version__
    assert info.key == wl.target_info("cpu").key
    for spelling in ("cpu", "llvm", "host", "CPU"):
        assert wl.resolve_platform(spelling) == "cpu"
    assert wl.resolve_platform("cuda") == "gpu"
    with pytest.raises(UserError, match="unknown XLA target"):
        wl.resolve_platform("tpu-v9")
