"""The model zoo registry: named factories that build small, deterministic models.

Models are keyed by ``(backend, name)``: ``"tvm"`` models are PyTorch modules
(:class:`ZooModel`), ``"xla"`` models are pure JAX functions (:class:`JaxModel`).

Usage::

    from autotune import zoo
    m = zoo.create("mlp")                    # or a user spec "pkg.module:function"
    out = m.module(*m.example_inputs)
    j = zoo.create("gpt-block", backend="xla")
    out = jax.jit(j.fn)(*j.example_args)
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar, overload

from autotune.zoo.model import JaxModel, UnknownModelError, ZooModel

__all__ = [
    "BACKENDS",
    "SEED",
    "JaxModel",
    "UnknownModelError",
    "ZooModel",
    "create",
    "names",
    "register",
    "seeded",
]

#: Backends the zoo has models for: ``"tvm"`` (PyTorch modules) and ``"xla"`` (JAX functions).
BACKENDS: tuple[str, ...] = ("tvm", "xla")

#: Backend -> built-in model name -> module that registers it (imported on first use, so
#: that listing names imports neither torch nor jax).
#: Names of single-operator models start with this; see autotune/zoo/ops.py and jax_ops.py.
OP_PREFIX = "op-"
_OPS = {"tvm": "autotune.zoo.ops", "xla": "autotune.zoo.jax_ops"}

_BUILTIN: dict[str, dict[str, str]] = {
    "tvm": {
        "mlp": "autotune.zoo.mlp",
        "convnet": "autotune.zoo.convnet",
        "bert-tiny": "autotune.zoo.bert_tiny",
        # Real sizes, from Hugging Face transformers (the extra autotune[models]).
        "resnet18": "autotune.zoo.resnet18",
        "mobilenet-v2": "autotune.zoo.mobilenet_v2",
        "bert-base-layer": "autotune.zoo.bert_base_layer",
        "gpt2-block": "autotune.zoo.gpt2_block",
    },
    "xla": {
        "mlp": "autotune.zoo.jax_mlp",
        "convnet": "autotune.zoo.jax_convnet",
        "gpt-block": "autotune.zoo.jax_gpt",
        # Real sizes, in JAX itself (no extra needed).
        "resnet18": "autotune.zoo.jax_resnet18",
        "bert-base-layer": "autotune.zoo.jax_bert_base",
    },
}

_FACTORIES: dict[tuple[str, str], Callable[[], Any]] = {}

#: Fixed seed every built-in factory uses, so weights (and IR fingerprints) are stable.
SEED = 0

F = TypeVar("F", bound=Callable[[], Any])


@contextlib.contextmanager
def seeded(seed: int = SEED) -> Iterator[None]:
    """Seed torch's CPU RNG inside the block and restore the caller's RNG state after."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise UnknownModelError(f"unknown backend {backend!r}; known backends: {', '.join(BACKENDS)}")


def register(name: str, backend: str = "tvm") -> Callable[[F], F]:
    """Decorator registering a factory ``() -> ZooModel`` (``"tvm"``) or
    ``() -> JaxModel`` (``"xla"``) under ``name`` for ``backend``."""
    _check_backend(backend)

    def deco(factory: F) -> F:
        key = (backend, name)
        if key in _FACTORIES and _FACTORIES[key] is not factory:
            raise ValueError(f"zoo model {name!r} is already registered for backend {backend!r}")
        _FACTORIES[key] = factory
        return factory

    return deco


def names(backend: str = "tvm") -> list[str]:
    """All known model names of ``backend`` (built-in and registered), sorted."""
    _check_backend(backend)
    return sorted(set(_BUILTIN[backend]) | {n for b, n in _FACTORIES if b == backend})


@overload
def create(spec: str, backend: Literal["tvm"] = "tvm") -> ZooModel: ...
@overload
def create(spec: str, backend: Literal["xla"]) -> JaxModel: ...
@overload
def create(spec: str, backend: str) -> ZooModel | JaxModel: ...
def create(spec: str, backend: str = "tvm") -> ZooModel | JaxModel:
    """Build a model of ``backend`` by zoo name, or from a user spec ``"pkg.module:function"``
    or ``"path/to/file.py:function"`` (see :mod:`autotune.zoo.user`)."""
    _check_backend(backend)
    key = (backend, spec)
    if ":" in spec and key not in _FACTORIES:
        from autotune.zoo.user import load_user_jax_model, load_user_model

        return load_user_jax_model(spec) if backend == "xla" else load_user_model(spec)
    if key not in _FACTORIES and spec.startswith(OP_PREFIX):
        # Single-operator workloads named by their shapes, e.g. "op-dense-8x512x256" (the
        # extra shapes of the cost model's data collection): built by the backend's op module.
        return importlib.import_module(_OPS[backend]).build(spec)
    if key not in _FACTORIES and spec in _BUILTIN[backend]:
        importlib.import_module(_BUILTIN[backend][spec])
    factory = _FACTORIES.get(key)
    if factory is None:
        raise UnknownModelError(
            f"unknown {backend} model {spec!r}; known models: {', '.join(names(backend))} "
            "(or a user spec 'pkg.module:function')"
        )
    model = factory()
    if backend == "tvm":
        model.module.eval()
    return model
