"""The cost-model extension point: rank candidates before they are measured.

A cost model reads featurized candidates (PyG `Data`, see features/base.py) and scores
them: a higher score means a faster candidate. It is trained on the measured latencies of
many workloads, each normalised by its own workload (`relative` = latency / the default
config's latency), with the workload as the group a ranking loss compares within.
Every implementation runs the same contract tests (tests/costmodel/test_contract.py).

Example::

    model = create("gnn", signature=featurizer.signature())
    model.fit(graphs, relative, groups)
    scores = model.predict(candidate_graphs)      # numpy array, higher = faster
    model.save("model.pt"); model = load("model.pt")

A checkpoint is plain data (dicts, lists, numbers, strings and tensors) read back with
`torch.load(weights_only=True)`: nothing executable is ever read from a checkpoint, and a
file that pickles objects is refused with CostModelError without running any of it.
"""

from __future__ import annotations

import abc
import pickle
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autotune.registry import Registry


class CostModelError(ValueError):
    """A checkpoint that cannot be used: unreadable, another featurizer or vocabulary."""


class CostModel(abc.ABC):
    """Scores candidates; trained on latencies normalised per workload."""

    name: str = ""

    def __init__(self, signature: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.signature = dict(signature or {})
        self.seed = seed
        self.history: list[dict[str, float]] = []  # training curve: one row per epoch

    @abc.abstractmethod
    def fit(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        """Train from scratch on candidates with their latency relative to their workload's default."""

    @abc.abstractmethod
    def predict(self, graphs: Sequence[Any]) -> np.ndarray:
        """One score per candidate, higher = predicted faster (a listwise model, the GNN with
        `center`, scores candidates against the others of their workload in the same call)."""

    def update(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        """Learn from new measurements during a job (default: refit on them)."""
        self.fit(graphs, relative, groups)

    @abc.abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the trained model: plain data and tensors only (see
        `plain`; no bytes, numpy or other objects), as `load` reads nothing else."""

    @abc.abstractmethod
    def load_state(self, state: dict[str, Any]) -> None: ...

    def save(self, path: str | Path) -> None:
        """A checkpoint file: the model kind, featurizer signature, history and state, as plain
        data only (see `plain`), so that `load` reads it with `torch.load(weights_only=True)`."""
        import torch

        ckpt = plain(
            {
                "kind": self.name,
                "signature": self.signature,
                "seed": self.seed,
                "history": self.history,
                "state": self.state(),
            }
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(ckpt, tmp)
        tmp.replace(path)


_SCALARS = (str, int, float, bool, type(None))


def plain(obj: Any, where: str = "checkpoint") -> Any:
    """`obj` as the plain data a checkpoint holds: dicts with str or int keys, lists, str, int,
    float, bool, None and torch tensors. Tuples become lists, other mappings dicts, numpy arrays
    tensors and numpy scalars Python ones; anything else (bytes included: a model stores them
    as a uint8 tensor) is a TypeError, so a checkpoint never holds a pickled object."""
    import torch

    if type(obj) in _SCALARS:
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.detach()  # a Parameter becomes a plain tensor
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return plain(obj.item(), where)
    if isinstance(obj, (list, tuple)):
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if type(k) not in (str, int):
                raise TypeError(f"{where}: key {k!r} of type {type(k).__name__} (str or int only)")
            out[k] = plain(v, f"{where}[{k!r}]")
        return out
    raise TypeError(f"{where}: {type(obj).__name__} is not plain data (checkpoints hold no objects)")


def _check_data(obj: Any, where: str = "it") -> None:
    """CostModelError unless `obj` is plain data (what `plain` writes; also tuples and bytes,
    which earlier versions wrote): `torch.load(weights_only=True)` also rebuilds a few torch
    objects and whatever `torch.serialization.add_safe_globals` allowed, which no checkpoint holds."""
    import torch

    if type(obj) in (*_SCALARS, bytes) or type(obj) in (torch.Tensor, torch.nn.Parameter):
        return
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):
        for i, v in enumerate(obj):
            _check_data(v, f"{where}[{i}]")
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if type(k) not in (str, int):
                raise CostModelError(f"{where} has a key of type {type(k).__name__}, not plain data")
            _check_data(v, f"{where}[{k!r}]")
        return
    raise CostModelError(f"{where} holds a {type(obj).__module__}.{type(obj).__qualname__}, not plain data")


def _refused(message: str) -> str:
    """Why torch's weights_only unpickler refused a file, from its (long, multi-line) message."""
    found = re.search(r"GLOBAL (\S+) was not an allowed global", message)
    if found:
        return (
            f"a pickle of Python objects: it would rebuild {found[1]}; checkpoints are plain data, one "
            "an earlier version wrote with objects in it must be retrained with `autotune costmodel train`"
        )
    found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", message)
    return f"not plain data: {found[1].strip()[:120] if found else 'unreadable pickle'}"


def _reason(exc: Exception) -> str:
    """An exception as one short line."""
    return " ".join([type(exc).__name__ + ":", *str(exc).splitlines()[:1]])[:200].rstrip(":")


#: The top-level entries of a checkpoint and their types.
_FIELDS = {"kind": str, "signature": dict, "history": list, "state": dict}


def load(path: str | Path, signature: dict[str, Any] | None = None) -> CostModel:
    """A saved model; refused with CostModelError when the file is not a cost-model checkpoint
    of plain data or its featurizer signature differs. Never unpickles an object: the file is
    read with `torch.load(weights_only=True)`, which refuses any other global than tensors."""
    import torch

    try:
        with warnings.catch_warnings():  # a pickle of another protocol: refused below anyway
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CostModelError(f"{path}: no such cost-model checkpoint") from None
    except pickle.UnpicklingError as exc:  # weights_only refused what the pickle would rebuild
        raise CostModelError(f"{path}: not a cost-model checkpoint ({_refused(str(exc))})") from None
    except Exception as exc:  # not a torch file at all
        raise CostModelError(f"{path}: not a cost-model checkpoint ({_reason(exc)})") from None
    if not isinstance(ckpt, dict):
        raise CostModelError(f"{path}: not a cost-model checkpoint (a {type(ckpt).__name__}, not a dict)")
    for key, typ in _FIELDS.items():
        if not isinstance(ckpt.get(key), typ):
            got = "missing" if key not in ckpt else f"of type {type(ckpt[key]).__name__}"
            raise CostModelError(
                f"{path}: not a cost-model checkpoint ({key!r} is {got}, not {typ.__name__})"
            )
    seed = ckpt.get("seed", 0)
    if type(seed) is not int:
        raise CostModelError(f"{path}: not a cost-model checkpoint ('seed' is of type {type(seed).__name__})")
    try:
        _check_data(ckpt)
    except CostModelError as exc:
        raise CostModelError(f"{path}: not a cost-model checkpoint ({exc})") from None
    kind = ckpt["kind"]
    if kind not in kinds():
        raise CostModelError(f"{path}: unknown cost-model kind {kind!r}; known: {', '.join(kinds())}")
    if signature is not None and ckpt["signature"] != plain(signature):
        raise CostModelError(
            f"{path}: trained for {ckpt['signature'].get('vocab_version')} features, "
            f"these candidates use {signature.get('vocab_version')}; retrain with `autotune costmodel train`"
        )
    model = create(kind, signature=ckpt["signature"], seed=seed)
    model.history = list(ckpt["history"])
    try:
        model.load_state(ckpt["state"])
    except CostModelError as exc:
        raise CostModelError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
        raise CostModelError(f"{path}: not a usable {kind} checkpoint (its state: {_reason(exc)})") from None
    return model


REGISTRY: Registry[type[CostModel]] = Registry(
    "cost model",
    {
        "gnn": "autotune.costmodel.gnn",
        "xgboost": "autotune.costmodel.xgb",
        "random": "autotune.costmodel.random_model",
        "ensemble": "autotune.costmodel.ensemble",
    },
)
register = REGISTRY.register
kinds = REGISTRY.kinds


def create(kind: str, **kwargs: Any) -> CostModel:
    """A cost model by name: 'gnn', 'xgboost' (MetaSchedule's default kind), 'ensemble' (both)
    or 'random'."""
    return REGISTRY.create(kind, **kwargs)


def target_scores(relative: Sequence[float]) -> np.ndarray:
    """What models regress/rank: -log(relative latency), so faster = higher."""
    return -np.log(np.clip(np.asarray(relative, dtype=np.float64), 1e-6, None))
