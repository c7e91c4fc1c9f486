"""An ensemble of cost models: the GNN and XGBoost, their scores standardized and averaged.

What won TpuGraphs' layout ranking was ensembles; here the GNN (the graph's structure) and
XGBoost on the flattened features (MetaSchedule's own kind of model) err differently, so
their average ranks better than either where they disagree. Each member's scores are
z-scored within one `predict` call (the candidates a search ranks together), so that neither
member's scale decides.

Example::

    model = create("ensemble", signature=featurizer.signature())
    model.fit(graphs, relative, groups)            # fits every member
    scores = model.predict(candidate_graphs)       # mean of the members' z-scores
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autotune.costmodel.base import CostModel, CostModelError, create, register

#: The members, in the order their scores are averaged.
MEMBERS = ("gnn", "xgboost")


@register("ensemble")
class EnsembleModel(CostModel):
    """The mean of the z-scored predictions of `MEMBERS`, each trained on the same data."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        hp = {k: kwargs.pop(k) for k in list(kwargs) if k not in ("signature", "seed")}
        super().__init__(*args, **kwargs)
        self.members = {
            name: create(name, signature=self.signature, seed=self.seed, **(hp if name == "gnn" else {}))
            for name in MEMBERS
        }

    @classmethod
    def of(cls, members: dict[str, CostModel]) -> EnsembleModel:
        """An ensemble of members already fitted on the same data (leave-one-model-out fits
        the GNN and XGBoost anyway: their ensemble costs no third fit)."""
        if set(members) != set(MEMBERS):
            raise CostModelError(f"ensemble: expected members {list(MEMBERS)}, got {sorted(members)}")
        first = members[MEMBERS[0]]
        model = cls(signature=first.signature, seed=first.seed)
        model.members = {name: members[name] for name in MEMBERS}
        model.history = list(getattr(members["gnn"], "history", []))
        return model

    def fit(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        for model in self.members.values():
            model.fit(graphs, relative, groups)
        gnn = self.members["gnn"]
        self.history = list(gnn.history)

    def update(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        for model in self.members.values():
            model.update(graphs, relative, groups)

    def predict(self, graphs: Sequence[Any]) -> np.ndarray:
        total = np.zeros(len(graphs))
        for model in self.members.values():
            total += _zscore(np.asarray(model.predict(graphs), dtype=np.float64))
        return total / len(self.members)

    def state(self) -> dict[str, Any]:
        return {"members": {name: m.state() for name, m in self.members.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        members = state.get("members")
        if not isinstance(members, dict) or set(members) != set(MEMBERS):
            raise CostModelError(f"ensemble checkpoint: expected members {list(MEMBERS)}")
        for name, model in self.members.items():
            if not isinstance(members[name], dict):
                raise CostModelError(f"ensemble checkpoint: member {name!r} is not a dict")
            model.load_state(members[name])


def _zscore(x: np.ndarray) -> np.ndarray:
    """Scores centred and scaled to unit spread (all-equal scores: zeros)."""
    if len(x) == 0:
        return x
    spread = x.std()
    return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x)
