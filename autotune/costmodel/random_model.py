"""The random baseline: scores are noise (what ranking without a model gives)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autotune.costmodel.base import CostModel, register


@register("random")
class RandomModel(CostModel):
    """Uniform random scores, seeded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rng = np.random.default_rng(self.seed)

    def fit(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        return None

    def predict(self, graphs: Sequence[Any]) -> np.ndarray:
        return self.rng.random(len(graphs))

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        return None
