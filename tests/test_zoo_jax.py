"""The JAX model zoo (backend "xla"): real jax builds, jits and lowerings on CPU."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from autotune import zoo

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[1]
MODELS = ["bert-base-layer", "convnet", "gpt-block", "mlp", "resnet18"]
OUT_SHAPES = {
    "convnet": (4, 10),
    "gpt-block": (2, 64, 128),
    "mlp": (8, 10),
    "resnet18": (1, 1000),
    "bert-base-layer": (1, 128, 768),
}
IN_SHAPES = {
    "convnet": (4, 32, 32, 3),
    "gpt-block": (2, 64, 128),
    "mlp": (8, 128),
    "resnet18": (1, 224, 224, 3),
    "bert-base-layer": (1, 128, 768),
}


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))


def _lowered_hash(m: zoo.JaxModel) -> str:
    return hashlib.sha256(jax.jit(m.fn).lower(*m.example_args).as_text().encode()).hexdigest()


def _output_hash(m: zoo.JaxModel) -> str:
    return hashlib.sha256(np.asarray(jax.jit(m.fn)(*m.example_args)).tobytes()).hexdigest()


def test_names_and_backends() -> None:
    assert zoo.BACKENDS == ("tvm", "xla")
    assert zoo.names(backend="xla") == MODELS
    big = ["bert-base-layer", "gpt2-block", "mobilenet-v2", "resnet18"]  # tests/test_zoo_large.py
    assert zoo.names() == zoo.names(backend="tvm") == sorted(["bert-tiny", "convnet", "mlp", *big])


@pytest.mark.parametrize("name", MODELS)
def test_model_builds_jits_and_is_finite(name: str) -> None:
    m = zoo.create(name, backend="xla")
    assert isinstance(m, zoo.JaxModel) and m.name == name and m.description
    params, x = m.example_args
    assert isinstance(params, dict) and x.shape == IN_SHAPES[name]
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(m.example_args))
    out = np.asarray(jax.jit(m.fn)(*m.example_args))
    assert out.shape == OUT_SHAPES[name] and out.dtype == np.float32
    assert np.isfinite(out).all() and np.abs(out).max() > 0


@pytest.mark.parametrize("name", MODELS)
def test_builds_are_deterministic(name: str) -> None:
    a, b = zoo.create(name, backend="xla"), zoo.create(name, backend="xla")
    assert a is not b
    for la, lb in zip(jax.tree.leaves(a.example_args), jax.tree.leaves(b.example_args)):
        np.testing.assert_array_equal(np.asarray(la), np.asarray(lb))
    np.testing.assert_array_equal(np.asarray(jax.jit(a.fn)(*a.example_args)), jax.jit(b.fn)(*b.example_args))
    assert jax.jit(a.fn).lower(*a.example_args).as_text() == jax.jit(b.fn).lower(*b.example_args).as_text()


def test_lowering_and_outputs_are_stable_across_processes() -> None:
    models = {name: zoo.create(name, backend="xla") for name in MODELS}
    here = {name: [_lowered_hash(m), _output_hash(m)] for name, m in models.items()}
    script = textwrap.dedent(
        f"""
        import hashlib, json, jax, numpy as np
        from autotune import zoo
        out = {{}}
        for name in {MODELS!r}:
            m = zoo.create(name, backend="xla")
            text = jax.jit(m.fn).lower(*m.example_args).as_text()
            y = np.asarray(jax.jit(m.fn)(*m.example_args))
            out[name] = [hashlib.sha256(s).hexdigest() for s in (text.encode(), y.tobytes())]
        print(json.dumps(out))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, env=_env(), timeout=90
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == here


def test_gpt_block_is_causal() -> None:
    """Changing the last token changes only the last position's output.

    The change is a ramp, not a constant: pre-LN plus the final LayerNorm make the block
    invariant to adding the same number to every feature of a token.
    """
    m = zoo.create("gpt-block", backend="xla")
    params, x = m.example_args
    f = jax.jit(m.fn)
    ramp = jnp.linspace(-1.0, 1.0, x.shape[-1], dtype=x.dtype)
    a, b = np.asarray(f(params, x)), np.asarray(f(params, x.at[:, -1].add(ramp)))
    np.testing.assert_array_equal(a[:, :-1], b[:, :-1])
    assert not np.allclose(a[:, -1], b[:, -1])


def test_listing_names_imports_neither_jax_nor_torch() -> None:
    script = (
        "import sys; from autotune import zoo; print(zoo.names(backend='xla'));"
        "print('jax' in sys.modules, 'torch' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, env=_env()
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [repr(MODELS), "False False"]


def test_unknown_model_and_backend() -> None:
    known = "known models: bert-base-layer, convnet, gpt-block, mlp, resnet18"
    with pytest.raises(zoo.UnknownModelError, match=known) as info:
        zoo.create("bert-tiny", backend="xla")
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)
    for call in (lambda: zoo.create("mlp", backend="onnx"), lambda: zoo.names(backend="onnx")):
        with pytest.raises(zoo.UnknownModelError, match="unknown backend 'onnx'; known backends: tvm, xla"):
            call()


USER_FILE = """
import jax
import jax.numpy as jnp
import numpy as np


def affine():
    \"\"\"An affine map x @ w + b.\"\"\"
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    params = {"w": jax.random.normal(k1, (4, 2)), "b": np.ones(2, np.float32)}
    return (lambda p, x: x @ p["w"] + p["b"]), [params, jax.random.normal(k2, (3, 4))]


def not_a_pair():
    return 42


def not_callable():
    return 1, (jnp.ones(3),)


def bad_leaves():
    return (lambda x: x), ("text",)
"""


def test_user_jax_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "user_jax_models_for_test.py"
    path.write_text(USER_FILE)
    m = zoo.create(f"{path}:affine", backend="xla")
    assert isinstance(m, zoo.JaxModel) and m.description == "An affine map x @ w + b."
    assert isinstance(m.example_args, tuple)
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(m.example_args))
    params, x = m.example_args
    np.testing.assert_allclose(jax.jit(m.fn)(*m.example_args), x @ params["w"] + 1.0, rtol=1e-6)

    monkeypatch.syspath_prepend(str(tmp_path))
    by_module = zoo.create("user_jax_models_for_test:affine", backend="xla")
    assert _lowered_hash(by_module) == _lowered_hash(m)

    for func, pattern in [
        ("not_a_pair", r"must return \(fn, example_args\) or a JaxModel, got int"),
        ("not_callable", "returned int as the function"),
        ("bad_leaves", "must be pytrees of arrays, found str"),
        ("nope", "has no 'nope'"),
    ]:
        with pytest.raises(zoo.UnknownModelError, match=pattern) as info:
            zoo.create(f"{path}:{func}", backend="xla")
        assert "\n" not in str(info.value)
    with pytest.raises(zoo.UnknownModelError, match="no module named"):
        zoo.create("no_such_module_xyz:affine", backend="xla")


def test_registered_xla_model_is_listed_and_built() -> None:
    @zoo.register("test-double", backend="xla")
    def double() -> zoo.JaxModel:
        return zoo.JaxModel("test-double", lambda x: 2 * x, (jnp.ones((4,), jnp.float32),))

    try:
        assert "test-double" in zoo.names(backend="xla") and "test-double" not in zoo.names()
        m = zoo.create("test-double", backend="xla")
        np.testing.assert_array_equal(jax.jit(m.fn)(*m.example_args), np.full(4, 2.0, np.float32))
    finally:
        from autotune.zoo import base

        del base._FACTORIES[("xla", "test-double")]
