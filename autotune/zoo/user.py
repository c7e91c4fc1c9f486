"""User models from a spec ``"pkg.module:function"`` or ``"path/to/file.py:function"``.

The function takes no arguments and returns ``(module, example_inputs)`` (a
``torch.nn.Module`` and a tuple of tensors) or a :class:`ZooModel`::

    # my_models.py
    def tiny():
        return torch.nn.Linear(4, 2), (torch.randn(1, 4),)

    zoo.create("my_models:tiny")   # or zoo.create("path/to/my_models.py:tiny")

Seed torch inside the function if the model should fingerprint the same every run.

For the ``"xla"`` backend the function returns ``(fn, example_args)`` (a pure JAX
function and a tuple of pytrees of arrays) or a :class:`JaxModel`::

    def double():
        return (lambda x: 2 * x), (jnp.ones((4,), jnp.float32),)

    zoo.create("my_models:double", backend="xla")
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from autotune.zoo.model import JaxModel, UnknownModelError, ZooModel


def _is_path(module_part: str) -> bool:
    return module_part.endswith(".py") or "/" in module_part or os.sep in module_part


def _import_file(path: str, spec: str) -> ModuleType:
    """Import a Python file under a unique, stable module name."""
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        raise UnknownModelError(f"model spec {spec!r}: no such file {full!r}")
    stem = os.path.splitext(os.path.basename(full))[0]
    digest = hashlib.sha1(full.encode()).hexdigest()[:10]
    mod_name = f"_autotune_user_{stem}_{digest}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    file_spec = importlib.util.spec_from_file_location(mod_name, full)
    if file_spec is None or file_spec.loader is None:
        raise UnknownModelError(f"model spec {spec!r}: cannot import file {full!r}")
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[mod_name] = module
    try:
        file_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[mod_name]
        raise
    return module


def _import_module(name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        # Only a missing target module is "unknown"; a missing dependency inside it is
        # the user's import error and propagates as is.
        if err.name is not None and (name == err.name or name.startswith(err.name + ".")):
            raise UnknownModelError(f"model spec {spec!r}: no module named {name!r}") from err
        raise


def resolve_function(spec: str) -> Callable[[], Any]:
    """Import the module or file of ``spec`` and return its (callable) function."""
    module_part, sep, func_name = spec.rpartition(":")
    if not sep or not module_part or not func_name:
        raise UnknownModelError(
            f"model spec {spec!r}: expected 'pkg.module:function' or 'path/file.py:function'"
        )
    if _is_path(module_part):
        pymod = _import_file(module_part, spec)
    else:
        pymod = _import_module(module_part, spec)
    func = getattr(pymod, func_name, None)
    if func is None:
        raise UnknownModelError(f"model spec {spec!r}: {module_part!r} has no {func_name!r}")
    if not callable(func):
        raise UnknownModelError(f"model spec {spec!r}: {func_name!r} is not callable")
    return func


def _description(func: Callable[[], Any], spec: str) -> str:
    doc = (getattr(func, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else f"user model {spec}"


def load_user_model(spec: str) -> ZooModel:
    """Resolve ``spec`` to a :class:`ZooModel` (module in eval mode)."""
    import torch

    func = resolve_function(spec)
    func_name = spec.rpartition(":")[2]
    result = func()
    if isinstance(result, ZooModel):
        result.module.eval()
        return result
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ValueError(
            f"model spec {spec!r}: {func_name}() must return (torch.nn.Module, "
            f"tuple_of_example_inputs) or a ZooModel, got {type(result).__name__}"
        )
    module, inputs = result
    if not isinstance(module, torch.nn.Module):
        raise ValueError(  # noqa: TRY004 - a bad spec is a ValueError for callers, like the others
            f"model spec {spec!r}: {func_name}() returned {type(module).__name__} "
            "as the model, expected a torch.nn.Module"
        )
    if isinstance(inputs, list):
        inputs = tuple(inputs)
    if not isinstance(inputs, tuple) or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise ValueError(
            f"model spec {spec!r}: {func_name}() must return a tuple of torch.Tensor as "
            f"example inputs, got {type(inputs).__name__}"
        )
    return ZooModel(spec, module.eval(), inputs, _description(func, spec))


def load_user_jax_model(spec: str) -> JaxModel:
    """Resolve ``spec`` to a :class:`JaxModel`; numpy leaves of the args become jax arrays."""
    import jax
    import numpy as np

    func = resolve_function(spec)
    func_name = spec.rpartition(":")[2]
    result = func()
    if isinstance(result, JaxModel):
        return result
    if not (isinstance(result, tuple) and len(result) == 2):
        raise UnknownModelError(
            f"model spec {spec!r}: {func_name}() must return (fn, example_args) or a JaxModel, "
            f"got {type(result).__name__}"
        )
    fn, args = result
    if not callable(fn):
        raise UnknownModelError(
            f"model spec {spec!r}: {func_name}() returned {type(fn).__name__} as the function, "
            "expected a callable"
        )
    if isinstance(args, list):
        args = tuple(args)
    if not isinstance(args, tuple):
        raise UnknownModelError(
            f"model spec {spec!r}: {func_name}() must return a tuple of example args, "
            f"got {type(args).__name__}"
        )
    bad = {type(x).__name__ for x in jax.tree.leaves(args) if not isinstance(x, (jax.Array, np.ndarray))}
    if bad:
        raise UnknownModelError(
            f"model spec {spec!r}: example args of {func_name}() must be pytrees of arrays, "
            f"found {', '.join(sorted(bad))}"
        )
    args = jax.tree.map(jax.numpy.asarray, args)
    return JaxModel(spec, fn, args, _description(func, spec))
