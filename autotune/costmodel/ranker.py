"""A cost model at work inside a search: rank one workload's proposals, learn online.

The search proposes `pool` configs, the ranker scores them (featurize + predict), only
the highest-scored is measured, and every measurement is fed back (`learn`) so that the
model adapts to this workload during the job. Time spent here is counted (`seconds`) so
the cost model's share of tuning time can be reported.

Example::

    ranker = Ranker(model, featurizer, workload_row)
    i = ranker.best([cfg_a, cfg_b, cfg_c, cfg_d])
    ranker.learn(cfg_b, relative=0.8)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autotune.costmodel import base
from autotune.costmodel.features.base import Featurizer, for_backend

PRETRAINED = Path(__file__).resolve().parent / "pretrained"


class Ranker:
    """Ranks the proposals of one workload with a cost model; learns from its measurements."""

    def __init__(
        self, model: base.CostModel, featurizer: Featurizer, workload: dict[str, Any], update_every: int = 4
    ) -> None:
        self.model, self.featurizer, self.workload = model, featurizer, workload
        self.update_every = update_every
        self.seconds = 0.0
        self.ranked = 0  # proposals scored
        self._new: list[tuple[Any, float]] = []

    def best(self, configs: Sequence[dict[str, Any]]) -> int:
        """Index of the proposal the model ranks fastest."""
        t0 = time.perf_counter()
        try:
            graphs = self.featurizer.graphs(self.workload, list(configs))
            ok = [i for i, g in enumerate(graphs) if g is not None]
            if not ok:
                return 0
            scores = self.model.predict([graphs[i] for i in ok])
            self.ranked += len(ok)
            return ok[int(np.argmax(scores))]
        finally:
            self.seconds += time.perf_counter() - t0

    def learn(self, config: dict[str, Any], relative: float | None) -> None:
        """Feed one measured outcome back (failures are not ranking data)."""
        if relative is None:
            return
        t0 = time.perf_counter()
        try:
            (graph,) = self.featurizer.graphs(self.workload, [config])
            if graph is not None:
                self._new.append((graph, relative))
            if len(self._new) >= self.update_every:
                graphs, rel = zip(*self._new)
                self.model.update(list(graphs), list(rel), [0] * len(rel))
                self._new.clear()
        finally:
            self.seconds += time.perf_counter() - t0


def pretrained_path(backend: str) -> Path:
    """Where the shipped checkpoint of a backend's featurizer lives."""
    f = for_backend(backend)
    return PRETRAINED / f"{backend}-{f.VOCAB_VERSION}.pt"


def load_model(backend: str, spec: str | None = "pretrained") -> base.CostModel | None:
    """The cost model a search uses: 'pretrained' (shipped, if present), a checkpoint path,
    or None/'none' for no model. A checkpoint for other features raises CostModelError."""
    if spec in (None, "none"):
        return None
    signature = for_backend(backend).signature()
    if spec == "pretrained":
        path = pretrained_path(backend)
        return base.load(path, signature) if path.exists() else None
    return base.load(spec, signature)
