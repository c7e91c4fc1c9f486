"""The GNN cost model (PyTorch Geometric): message passing over the candidate's graph, a
pooled readout with the graph-level (config) features, trained with a pairwise ranking
loss within each workload.

Architecture: standardised node features -> linear encoder -> 3 residual SAGEConv blocks
(LayerNorm, ReLU) -> mean and max pooling, concatenated with the encoded graph-level
features -> MLP -> one score. Loss: RankNet (logistic pairwise) over every pair of
candidates of the same workload whose true speeds differ by more than 1%.

Example::

    model = GNNModel(signature=featurizer.signature())
    model.fit(graphs, relative, groups)           # relative = latency / default latency
    model.predict(new_graphs)                      # higher = faster
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from autotune.costmodel.base import CostModel, register, target_scores


def _net(node_dim: int, graph_dim: int, hidden: int, layers: int) -> Any:
    import torch
    from torch import nn
    from torch_geometric.nn import SAGEConv, global_max_pool, global_mean_pool

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encode = nn.Sequential(nn.Linear(node_dim, hidden), nn.ReLU())
            self.convs = nn.ModuleList([SAGEConv(hidden, hidden) for _ in range(layers)])
            self.norms = nn.ModuleList([nn.LayerNorm(hidden) for _ in range(layers)])
            self.graph = nn.Sequential(nn.Linear(max(graph_dim, 1), hidden), nn.ReLU())
            self.head = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

        def forward(self, x: Any, edge_index: Any, batch: Any, g: Any) -> Any:
            h = self.encode(x)
            for conv, norm in zip(self.convs, self.norms):
                h = h + torch.relu(norm(conv(h, edge_index)))
            pooled = torch.cat([global_mean_pool(h, batch), global_max_pool(h, batch), self.graph(g)], dim=1)
            return self.head(pooled).squeeze(-1)

    return Net()


def _one_thread() -> None:
    """Run torch single-threaded: these graphs are tiny, and on a loaded 2-core machine torch's
    intra-op threads spin against the tuner's own processes (a 4-candidate predict took 0.8 s
    with 2 threads, 3 ms with 1)."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def pairwise_loss(scores: Any, targets: Any, groups: Any, margin: float = 0.01) -> Any:
    """RankNet loss over pairs of one group whose targets differ by more than `margin`."""
    import torch

    same = groups[:, None] == groups[None, :]
    better = (targets[:, None] - targets[None, :]) > margin
    mask = same & better
    if not bool(mask.any()):
        return scores.sum() * 0.0
    diff = scores[:, None] - scores[None, :]
    return torch.nn.functional.softplus(-diff[mask]).mean()


@register("gnn")
class GNNModel(CostModel):
    """Graph neural network ranking model (see module docstring)."""

    def __init__(
        self,
        *args: Any,
        hidden: int = 64,
        layers: int = 3,
        epochs: int = 40,
        lr: float = 2e-3,
        groups_per_step: int = 4,
        max_per_group: int = 48,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.hp = {
            "hidden": hidden,
            "layers": layers,
            "epochs": epochs,
            "lr": lr,
            "groups_per_step": groups_per_step,
            "max_per_group": max_per_group,
        }
        self.net: Any = None
        self.norm: dict[str, Any] = {}

    # --- tensors ------------------------------------------------------------------
    def _standardize(self, graphs: Sequence[Any]) -> None:
        import torch

        x = torch.cat([g.x for g in graphs])
        gg = torch.cat([g.g for g in graphs])
        self.norm = {
            "x_mean": x.mean(0),
            "x_std": x.std(0).clamp_min(1e-3),
            "g_mean": gg.mean(0),
            "g_std": gg.std(0).clamp_min(1e-3) if len(gg) > 1 else torch.ones(gg.shape[1]),
        }

    def _batch(self, graphs: Sequence[Any]) -> tuple[Any, Any, Any, Any]:
        import torch

        xs, es, bs, gs, offset = [], [], [], [], 0
        for i, g in enumerate(graphs):
            xs.append(g.x)
            es.append(g.edge_index + offset)
            bs.append(torch.full((g.x.shape[0],), i, dtype=torch.long))
            gs.append(g.g)
            offset += g.x.shape[0]
        x = (torch.cat(xs) - self.norm["x_mean"]) / self.norm["x_std"]
        g = (torch.cat(gs) - self.norm["g_mean"]) / self.norm["g_std"]
        return x, torch.cat(es, dim=1), torch.cat(bs), g

    def _ensure_net(self, graphs: Sequence[Any]) -> None:
        import torch

        torch.manual_seed(self.seed)
        self._standardize(graphs)
        self.net = _net(graphs[0].x.shape[1], graphs[0].g.shape[1], self.hp["hidden"], self.hp["layers"])

    # --- training -----------------------------------------------------------------
    def fit(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        self._ensure_net(graphs)
        self.history = []
        self._train(graphs, relative, groups, self.hp["epochs"])

    def update(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        """Online: a few epochs on the new measurements, starting from the current weights."""
        if self.net is None:
            self.fit(graphs, relative, groups)
        else:
            self._train(graphs, relative, groups, max(2, self.hp["epochs"] // 8))

    def _train(
        self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int], epochs: int
    ) -> None:
        import torch

        _one_thread()
        rng = random.Random(self.seed)
        y = torch.tensor(target_scores(relative), dtype=torch.float32)
        by_group: dict[int, list[int]] = {}
        for i, grp in enumerate(groups):
            by_group.setdefault(int(grp), []).append(i)
        keys = list(by_group)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.hp["lr"], weight_decay=1e-5)
        self.net.train()
        for _ in range(epochs):
            t0 = time.perf_counter()
            rng.shuffle(keys)
            losses = []
            for start in range(0, len(keys), self.hp["groups_per_step"]):
                idx: list[int] = []
                for k in keys[start : start + self.hp["groups_per_step"]]:
                    members = by_group[k]
                    idx += rng.sample(members, min(len(members), self.hp["max_per_group"]))
                x, e, b, g = self._batch([graphs[i] for i in idx])
                scores = self.net(x, e, b, g)
                grp = torch.tensor([int(groups[i]) for i in idx])
                loss = pairwise_loss(scores, y[idx], grp)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            self.history.append(
                {
                    "epoch": len(self.history),
                    "loss": float(np.mean(losses)),
                    "seconds": time.perf_counter() - t0,
                }
            )
        self.net.eval()

    # --- use ----------------------------------------------------------------------
    def predict(self, graphs: Sequence[Any]) -> np.ndarray:
        import torch

        if self.net is None:
            return np.zeros(len(graphs))
        _one_thread()
        out = []
        with torch.no_grad():
            for start in range(0, len(graphs), 256):
                x, e, b, g = self._batch(graphs[start : start + 256])
                out.append(self.net(x, e, b, g).numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def state(self) -> dict[str, Any]:
        return {
            "hp": self.hp,
            "norm": self.norm,
            "dims": None
            if self.net is None
            else [self.net.encode[0].in_features, self.net.graph[0].in_features],
            "weights": None if self.net is None else self.net.state_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.hp, self.norm = dict(state["hp"]), state["norm"]
        if state["weights"] is not None:
            node_dim, graph_dim = state["dims"]
            self.net = _net(node_dim, graph_dim, self.hp["hidden"], self.hp["layers"])
            self.net.load_state_dict(state["weights"])
            self.net.eval()
