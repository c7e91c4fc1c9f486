"""The XGBoost baseline: MetaSchedule's default kind of cost model, on the same candidates.

It reads each graph's fixed-length `flat` vector (for TVM: MetaSchedule's per-store
features pooled, as its own XGBoost model does) and ranks within each workload with
XGBoost's pairwise ranking objective (MetaSchedule's XGBModel also ranks: `rank:pairwise`
is the closest objective xgboost offers to its custom one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autotune.costmodel.base import CostModel, CostModelError, register, target_scores


def flat_matrix(graphs: Sequence[Any]) -> np.ndarray:
    return np.stack([g.flat.reshape(-1).numpy() for g in graphs]).astype(np.float32)


@register("xgboost")
class XGBoostModel(CostModel):
    """Gradient-boosted trees with a pairwise ranking objective, grouped by workload."""

    #: Trees an online update adds, fitted on its measurements (boosting goes on from the model).
    UPDATE_ROUNDS = 10

    def __init__(self, *args: Any, rounds: int = 200, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rounds = rounds
        self.booster: Any = None

    def fit(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        curve = self._boost(graphs, relative, groups, self.rounds, None)
        self.history = [{"epoch": i, "train_metric": float(v)} for i, v in enumerate(curve)]

    def update(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        """Online: `UPDATE_ROUNDS` more trees on the new measurements, keeping the trained ones
        (a refit on a job's batch alone would forget everything learned before it)."""
        if self.booster is None:
            self.fit(graphs, relative, groups)
            return
        self._boost(graphs, relative, groups, self.UPDATE_ROUNDS, self.booster)

    def _boost(
        self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int], rounds: int, start: Any
    ) -> list[float]:
        """Train `rounds` trees (on top of the booster `start`, if any); the training curve."""
        import xgboost as xgb

        order = np.argsort(np.asarray(groups), kind="stable")
        X = flat_matrix([graphs[i] for i in order])
        y = target_scores([relative[i] for i in order])
        g = np.asarray(groups)[order]
        # Relevance labels per group: rank of -log(relative) within the workload.
        labels = np.zeros(len(y), dtype=np.float32)
        sizes = []
        for grp in dict.fromkeys(g.tolist()):
            idx = np.nonzero(g == grp)[0]
            # Graded relevance 0..15 (xgboost's ranking metrics accept at most 31).
            rank = np.argsort(np.argsort(y[idx])).astype(np.float32)
            labels[idx] = np.floor(rank * 15.0 / max(1, len(idx) - 1))
            sizes.append(len(idx))
        dtrain = xgb.DMatrix(X, label=labels)
        dtrain.set_group(sizes)
        params = {
            "objective": "rank:pairwise",
            "eta": 0.2,
            "max_depth": 6,
            "min_child_weight": 1,
            "subsample": 0.9,
            "seed": self.seed,
            "nthread": 1,  # OpenMP threads spin on a loaded 2-core machine (10x slower fits)
            "verbosity": 0,
        }
        evals: dict[str, Any] = {}
        self.booster = xgb.train(
            params,
            dtrain,
            rounds,
            evals=[(dtrain, "train")],
            evals_result=evals,
            verbose_eval=False,
            xgb_model=start,
        )
        return list(next(iter(evals.get("train", {}).values()), []))

    def predict(self, graphs: Sequence[Any]) -> np.ndarray:
        import xgboost as xgb

        if self.booster is None:
            return np.zeros(len(graphs))
        return np.asarray(self.booster.predict(xgb.DMatrix(flat_matrix(graphs))), dtype=np.float64)

    def state(self) -> dict[str, Any]:
        """Plain data: the booster in XGBoost's own binary format (UBJSON) as a uint8 tensor."""
        import torch

        booster = None
        if self.booster is not None:
            booster = torch.frombuffer(bytearray(self.booster.save_raw()), dtype=torch.uint8).clone()
        return {"rounds": self.rounds, "booster": booster}

    def load_state(self, state: dict[str, Any]) -> None:
        """The booster from its uint8 tensor (or the bytes an earlier version stored)."""
        import torch
        import xgboost as xgb

        rounds, raw = state.get("rounds"), state.get("booster")
        if type(rounds) is not int:
            raise CostModelError("XGBoost checkpoint: 'rounds' is not an int")
        if isinstance(raw, torch.Tensor):
            if raw.dtype != torch.uint8 or raw.dim() != 1:
                raise CostModelError("XGBoost checkpoint: 'booster' is not a 1-D uint8 tensor")
            raw = raw.numpy().tobytes()
        elif raw is not None and not isinstance(raw, bytes):
            raise CostModelError(f"XGBoost checkpoint: 'booster' is a {type(raw).__name__}")
        self.rounds = rounds
        self.booster = None
        if raw is not None:
            self.booster = xgb.Booster()
            self.booster.load_model(bytearray(raw))
