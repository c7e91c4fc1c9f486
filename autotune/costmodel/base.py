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
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
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
        """Everything needed to rebuild the trained model (plain data and tensors)."""

    @abc.abstractmethod
    def load_state(self, state: dict[str, Any]) -> None: ...

    def save(self, path: str | Path) -> None:
        """A checkpoint file: the model kind, featurizer signature, history and state."""
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(
            {
                "kind": self.name,
                "signature": self.signature,
                "seed": self.seed,
                "history": self.history,
                "state": self.state(),
            },
            tmp,
        )
        tmp.replace(path)


def load(path: str | Path, signature: dict[str, Any] | None = None) -> CostModel:
    """A saved model; refused with CostModelError when its featurizer signature differs."""
    import torch

    try:
        ckpt = torch.load(Path(path), map_location="cpu", weights_only=False)
        kind = ckpt["kind"]
    except FileNotFoundError:
        raise CostModelError(f"{path}: no such cost-model checkpoint") from None
    except Exception as exc:  # not a checkpoint at all
        raise CostModelError(f"{path}: not a cost-model checkpoint ({type(exc).__name__})") from None
    if signature is not None and ckpt["signature"] != signature:
        raise CostModelError(
            f"{path}: trained for {ckpt['signature'].get('vocab_version')} features, "
            f"these candidates use {signature.get('vocab_version')}; retrain with `autotune costmodel train`"
        )
    model = create(kind, signature=ckpt["signature"], seed=ckpt.get("seed", 0))
    model.history = list(ckpt.get("history", []))
    try:
        model.load_state(ckpt["state"])
    except CostModelError as exc:
        raise CostModelError(f"{path}: {exc}") from None
    return model


REGISTRY: Registry[type[CostModel]] = Registry(
    "cost model",
    {
        "gnn": "autotune.costmodel.gnn",
        "xgboost": "autotune.costmodel.xgb",
        "random": "autotune.costmodel.random_model",
    },
)
register = REGISTRY.register
kinds = REGISTRY.kinds


def create(kind: str, **kwargs: Any) -> CostModel:
    """A cost model by name: 'gnn', 'xgboost' (MetaSchedule's default kind) or 'random'."""
    return REGISTRY.create(kind, **kwargs)


def target_scores(relative: Sequence[float]) -> np.ndarray:
    """What models regress/rank: -log(relative latency), so faster = higher."""
    return -np.log(np.clip(np.asarray(relative, dtype=np.float64), 1e-6, None))
