"""The GNN cost model (PyTorch Geometric): message passing over the candidate's graph, a
pooled readout combined with the graph-level (config) features, trained with a pairwise
ranking loss within each workload.

Architecture ("gnn-2"): standardised node features -> linear encoder -> 3 residual SAGEConv
blocks (LayerNorm, ReLU) -> mean and max pooling. The readout concatenates them with the
encoded graph-level features `g`, the product of the mean-pooled graph and encoded `g` (how a
decision's effect depends on the workload: measured +0.03 Kendall's tau on held-out XLA
workloads over concatenation alone) and the encoded `flat` vector -> MLP -> one score. The
product and `flat` are on for HLO graphs and off for TIR (`BY_FEATURIZER`, measured). Loss:
RankNet (logistic pairwise) over every pair of candidates of the same workload whose true
speeds differ by more than 1%.

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

from autotune.costmodel.base import CostModel, CostModelError, register, target_scores

#: Bumped when the network's layers change; a checkpoint of another architecture is refused.
ARCH = "gnn-2"

#: Defaults per featurizer, measured on held-out workloads (benchmarks/README.md, costmodel).
#: HLO: the product readout (+0.03 tau) and the `flat` branch (per-opcode counts that node
#: pooling dilutes) help, 20 epochs is enough. TIR: both hurt (0.23 -> 0.15-0.20 tau: its `g` is
#: 8 numbers, and MetaSchedule's 328 pooled per-store numbers overfit on ~30 workloads); 40 epochs.
BY_FEATURIZER: dict[str, dict[str, Any]] = {
    "hlo": {"flat": True, "interact": True, "epochs": 20},
    "tir": {"flat": False, "interact": False, "epochs": 40},
}
FALLBACK = {"flat": False, "interact": False, "epochs": 40}


def _net(node_dim: int, graph_dim: int, flat_dim: int, hidden: int, layers: int, interact: bool) -> Any:
    """The network; flat_dim 0 = no `flat` branch, interact = the product readout."""
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
            self.flat = nn.Sequential(nn.Linear(flat_dim, hidden), nn.ReLU()) if flat_dim else None
            width = (3 + bool(flat_dim) + interact) * hidden
            self.head = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))

        def forward(self, x: Any, edge_index: Any, batch: Any, g: Any, flat: Any) -> Any:
            h = self.encode(x)
            for conv, norm in zip(self.convs, self.norms):
                h = h + torch.relu(norm(conv(h, edge_index)))
            mean, config = global_mean_pool(h, batch), self.graph(g)
            parts = [mean, global_max_pool(h, batch), config]
            if interact:
                parts.append(mean * config)
            if self.flat is not None:
                parts.append(self.flat(flat))
            return self.head(torch.cat(parts, dim=1)).squeeze(-1)

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
        epochs: int | None = None,
        lr: float = 2e-3,
        groups_per_step: int = 4,
        max_per_group: int = 48,
        flat: bool | None = None,
        interact: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """None = the featurizer's default (BY_FEATURIZER)."""
        super().__init__(*args, **kwargs)
        default = BY_FEATURIZER.get((self.signature or {}).get("featurizer", ""), FALLBACK)
        self.hp = {
            "flat": default["flat"] if flat is None else flat,
            "interact": default["interact"] if interact is None else interact,
            "hidden": hidden,
            "layers": layers,
            "epochs": default["epochs"] if epochs is None else epochs,
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
        self.norm = {"x_mean": x.mean(0), "x_std": x.std(0).clamp_min(1e-3)}
        for key in ("g", "flat"):
            v = torch.cat([getattr(g, key) for g in graphs])
            self.norm[f"{key}_mean"] = v.mean(0)
            self.norm[f"{key}_std"] = v.std(0).clamp_min(1e-3) if len(v) > 1 else torch.ones(v.shape[1])

    def _batch(self, graphs: Sequence[Any]) -> tuple[Any, Any, Any, Any, Any]:
        """(x, edge_index, batch, g, flat) of a list of graphs, standardised."""
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
        flat = (torch.cat([gr.flat for gr in graphs]) - self.norm["flat_mean"]) / self.norm["flat_std"]
        return x, torch.cat(es, dim=1), torch.cat(bs), g, flat

    def _ensure_net(self, graphs: Sequence[Any]) -> None:
        import torch

        torch.manual_seed(self.seed)
        self._standardize(graphs)
        self.net = _net(*self._dims(graphs[0]), self.hp["hidden"], self.hp["layers"], self.hp["interact"])

    def _dims(self, graph: Any) -> list[int]:
        return [graph.x.shape[1], graph.g.shape[1], graph.flat.shape[1] if self.hp["flat"] else 0]

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
                scores = self.net(*self._batch([graphs[i] for i in idx]))
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
                out.append(self.net(*self._batch(graphs[start : start + 256])).numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def state(self) -> dict[str, Any]:
        net = self.net
        return {
            "arch": ARCH,
            "hp": self.hp,
            "norm": self.norm,
            "dims": None
            if net is None
            else [
                net.encode[0].in_features,
                net.graph[0].in_features,
                0 if net.flat is None else net.flat[0].in_features,
            ],
            "weights": None if net is None else net.state_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if state.get("arch") != ARCH:
            raise CostModelError(
                f"GNN checkpoint of architecture {state.get('arch', 'gnn-1')!r}, this version reads "
                f"{ARCH!r}: retrain it with `autotune costmodel train`"
            )
        self.hp, self.norm = dict(state["hp"]), state["norm"]
        if state["weights"] is not None:
            self.net = _net(*state["dims"], self.hp["hidden"], self.hp["layers"], self.hp["interact"])
            self.net.load_state_dict(state["weights"])
            self.net.eval()
