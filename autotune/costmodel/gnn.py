"""The GNN cost model (PyTorch Geometric): message passing over the candidate's graph, a
pooled readout combined with the graph-level (config) features, trained with a pairwise
ranking loss within each workload.

Architecture ("gnn-3"): standardised node features -> linear encoder -> 3 residual SAGEConv
blocks (LayerNorm, ReLU) -> mean and max pooling. The readout concatenates them with the
encoded graph-level features `g`, the product of the mean-pooled graph and encoded `g` (how a
decision's effect depends on the workload) and the encoded `flat` vector -> MLP -> one score.
The product and `flat` are on for HLO graphs and off for TIR (`BY_FEATURIZER`, measured).

`center` (on for HLO): the readout is centred per workload before the MLP, i.e. each
candidate is scored by how its readout differs from the mean readout of the candidates of the
same workload in the same call (a listwise score). What every candidate of a workload shares
(the workload's own size and kind) cancels, so the MLP learns what the decisions change, which
transfers to workloads of kinds never seen in training. Scores are comparable within one call
only, which is how the search uses them (it ranks one pool of proposals at a time); a workload
with a single candidate in the call gets a constant score. Workloads are told apart by the
graphs' `workload_key` (graphs without one count as one workload); training centres per group.
An ensemble of 3 such networks from different seeds scores a candidate by the mean of their
standardised scores: one network's Kendall's tau moves by +-0.04 with its seed alone. Loss
(`loss`): RankNet (logistic pairwise, the default) over every pair of candidates of the same
workload whose true speeds differ by more than 1%, or ListNet ("listwise": the softmax of
the scores against the softmax of the true log-speeds, per workload).

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
ARCH = "gnn-3"
#: Older architectures this version still reads ("gnn-2" is "gnn-3" without `center`).
READS = ("gnn-2", ARCH)

#: Defaults per featurizer, from held-out-workload runs of one network per seed (a seed alone
#: moves tau by +-0.04, so smaller differences are noise). HLO: the product readout and the
#: `flat` branch (per-opcode counts that node pooling dilutes) 0.34 -> 0.36-0.38 tau, 20 epochs as
#: good as 40. TIR: the `flat` branch (MetaSchedule's 328 pooled per-store numbers) 0.18-0.23 ->
#: 0.16 tau, the product no gain (its `g` is 8 numbers); 40 epochs better than 20.
#: HLO `center`: 0.343 -> 0.368 tau on the same 5 splits (better on each of them), and better
#: on 4 of 5 kinds never seen (one seed); centring and also keeping the raw readout: 0.345; centring on
#: the workload's default config instead of the mean: 0.339.
BY_FEATURIZER: dict[str, dict[str, Any]] = {
    "hlo": {"flat": True, "interact": True, "center": True, "epochs": 20},
    "tir": {"flat": False, "interact": False, "center": False, "epochs": 40},
}
FALLBACK = {"flat": False, "interact": False, "center": False, "epochs": 40}


def _net(
    node_dim: int, graph_dim: int, flat_dim: int, hidden: int, layers: int, interact: bool, center: bool
) -> Any:
    """The network; flat_dim 0 = no `flat` branch, interact = the product readout, center = the
    readout centred per workload (`lists`: the workload index of each graph)."""
    import torch
    from torch import nn
    from torch_geometric.nn import SAGEConv, global_max_pool, global_mean_pool
    from torch_geometric.utils import scatter

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

        def forward(self, x: Any, edge_index: Any, batch: Any, g: Any, flat: Any, lists: Any) -> Any:
            h = self.encode(x)
            for conv, norm in zip(self.convs, self.norms):
                h = h + torch.relu(norm(conv(h, edge_index)))
            mean, config = global_mean_pool(h, batch), self.graph(g)
            parts = [mean, global_max_pool(h, batch), config]
            if interact:
                parts.append(mean * config)
            if self.flat is not None:
                parts.append(self.flat(flat))
            z = torch.cat(parts, dim=1)
            if center:
                z = z - scatter(z, lists, dim=0, reduce="mean")[lists]
            return self.head(z).squeeze(-1)

    return Net()


def _one_thread() -> None:
    """Run torch single-threaded: these graphs are tiny, and on a loaded 2-core machine torch's
    intra-op threads spin against the tuner's own processes (a 4-candidate predict took 0.8 s
    with 2 threads, 3 ms with 1)."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _workload(graph: Any) -> Any:
    """Which workload a graph belongs to, for `center` (None = no `workload_key`: one workload)."""
    return getattr(graph, "workload_key", None)


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


def listwise_loss(scores: Any, targets: Any, groups: Any, temperature: float = 0.1) -> Any:
    """ListNet loss: per group, the cross-entropy between the softmax of the true speeds (at
    `temperature`, in log-speed units: the fastest candidates carry the weight) and the softmax
    of the scores; averaged over the groups of the batch."""
    import torch

    losses = []
    for grp in torch.unique(groups):
        idx = groups == grp
        if int(idx.sum()) < 2:
            continue
        truth = torch.softmax(targets[idx] / temperature, dim=0)
        losses.append(-(truth * torch.log_softmax(scores[idx], dim=0)).sum())
    return torch.stack(losses).mean() if losses else scores.sum() * 0.0


#: The training losses `GNNModel(loss=...)` offers.
LOSSES = {"pairwise": pairwise_loss, "listwise": listwise_loss}


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
        center: bool | None = None,
        ensemble: int = 3,
        loss: str = "pairwise",
        **kwargs: Any,
    ) -> None:
        """None = the featurizer's default (BY_FEATURIZER); `loss`: one of `LOSSES`."""
        super().__init__(*args, **kwargs)
        if loss not in LOSSES:
            raise ValueError(f"unknown GNN loss {loss!r}; known: {', '.join(LOSSES)}")
        default = BY_FEATURIZER.get((self.signature or {}).get("featurizer", ""), FALLBACK)
        self.hp = {
            "flat": default["flat"] if flat is None else flat,
            "interact": default["interact"] if interact is None else interact,
            "center": default["center"] if center is None else center,
            "hidden": hidden,
            "layers": layers,
            "epochs": default["epochs"] if epochs is None else epochs,
            "lr": lr,
            "groups_per_step": groups_per_step,
            "max_per_group": max_per_group,
            "ensemble": ensemble,
            "loss": loss,
        }
        self.nets: list[Any] = []
        self.scale: list[tuple[float, float]] = []  # per network: mean, std of its training scores
        self.norm: dict[str, Any] = {}

    # --- tensors ------------------------------------------------------------------
    def _standardize(self, graphs: Sequence[Any]) -> None:
        import torch

        x = torch.cat([g.x for g in graphs])
        self.norm = {"x_mean": x.mean(0), "x_std": x.std(0).clamp_min(1e-3)}
        for key in ("g", "flat") if self.hp["flat"] else ("g",):
            v = torch.cat([getattr(g, key) for g in graphs])
            self.norm[f"{key}_mean"] = v.mean(0)
            self.norm[f"{key}_std"] = v.std(0).clamp_min(1e-3) if len(v) > 1 else torch.ones(v.shape[1])

    def _batch(self, graphs: Sequence[Any], groups: Sequence[int] | None = None) -> tuple[Any, ...]:
        """(x, edge_index, batch, g, flat, lists) of a list of graphs, standardised (flat None
        when the networks have no flat branch). `lists` numbers the workloads of the batch for
        `center` (None without it): by `groups` when given (training), else by `workload_key`."""
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
        flat = None  # only read by a network with a flat branch
        if self.hp["flat"]:
            flat = (torch.cat([gr.flat for gr in graphs]) - self.norm["flat_mean"]) / self.norm["flat_std"]
        lists = None  # only read by a network that centres
        if self.hp["center"]:
            keys = groups if groups is not None else [_workload(gr) for gr in graphs]
            number: dict[Any, int] = {}
            lists = torch.tensor([number.setdefault(k, len(number)) for k in keys], dtype=torch.long)
        return x, torch.cat(es, dim=1), torch.cat(bs), g, flat, lists

    def _build(self, dims: Sequence[int]) -> Any:
        return _net(*dims, self.hp["hidden"], self.hp["layers"], self.hp["interact"], self.hp["center"])

    def _dims(self, graph: Any) -> list[int]:
        return [graph.x.shape[1], graph.g.shape[1], graph.flat.shape[1] if self.hp["flat"] else 0]

    def _net_seed(self, i: int) -> int:
        return self.seed * 100 + i

    # --- training -----------------------------------------------------------------
    def fit(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        """Train `ensemble` networks from different seeds; remember each one's score scale."""
        import torch

        self._standardize(graphs)
        self.nets, self.scale = [], []
        curves = []
        for i in range(self.hp["ensemble"]):
            torch.manual_seed(self._net_seed(i))
            net = self._build(self._dims(graphs[0]))
            curves.append(self._train(net, self._net_seed(i), graphs, relative, groups, self.hp["epochs"]))
            (scores,) = self._scores([net], graphs)
            self.nets.append(net)
            self.scale.append((float(scores.mean()), float(scores.std()) or 1.0))
        self.history = [
            {
                "epoch": e,
                "loss": float(np.mean([c[e][0] for c in curves])),
                "seconds": sum(c[e][1] for c in curves),
            }
            for e in range(self.hp["epochs"])
        ]

    def update(self, graphs: Sequence[Any], relative: Sequence[float], groups: Sequence[int]) -> None:
        """Online: a few epochs on the new measurements, starting from the current weights."""
        if not self.nets:
            self.fit(graphs, relative, groups)
            return
        for i, net in enumerate(self.nets):
            self._train(net, self._net_seed(i), graphs, relative, groups, max(2, self.hp["epochs"] // 8))

    def _train(
        self,
        net: Any,
        seed: int,
        graphs: Sequence[Any],
        relative: Sequence[float],
        groups: Sequence[int],
        epochs: int,
    ) -> list[tuple[float, float]]:
        """Train one network; (mean loss, seconds) per epoch."""
        import torch

        _one_thread()
        rng = random.Random(seed)
        y = torch.tensor(target_scores(relative), dtype=torch.float32)
        by_group: dict[int, list[int]] = {}
        for i, grp in enumerate(groups):
            by_group.setdefault(int(grp), []).append(i)
        keys = list(by_group)
        opt = torch.optim.Adam(net.parameters(), lr=self.hp["lr"], weight_decay=1e-5)
        net.train()
        curve = []
        for _ in range(epochs):
            t0 = time.perf_counter()
            rng.shuffle(keys)
            losses = []
            for start in range(0, len(keys), self.hp["groups_per_step"]):
                idx: list[int] = []
                for k in keys[start : start + self.hp["groups_per_step"]]:
                    members = by_group[k]
                    idx += rng.sample(members, min(len(members), self.hp["max_per_group"]))
                grp = torch.tensor([int(groups[i]) for i in idx])
                scores = net(*self._batch([graphs[i] for i in idx], grp.tolist()))
                loss = LOSSES[self.hp["loss"]](scores, y[idx], grp)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            curve.append((float(np.mean(losses)), time.perf_counter() - t0))
        net.eval()
        return curve

    # --- use ----------------------------------------------------------------------
    def _scores(self, nets: Sequence[Any], graphs: Sequence[Any]) -> list[np.ndarray]:
        """Each network's raw scores of the graphs (batched once for all networks; with
        `center`, a workload's candidates are always in the same batch)."""
        import torch

        _one_thread()
        out = [np.zeros(len(graphs)) for _ in nets]
        with torch.no_grad():
            for idx in self._chunks(graphs):
                batch = self._batch([graphs[i] for i in idx])
                for j, net in enumerate(nets):
                    out[j][idx] = net(*batch).numpy()
        return out

    def _chunks(self, graphs: Sequence[Any], size: int = 256) -> list[list[int]]:
        """Indices of the graphs in batches of about `size`, whole workloads when centring."""
        if not self.hp["center"]:
            return [list(range(i, min(i + size, len(graphs)))) for i in range(0, len(graphs), size)]
        by: dict[Any, list[int]] = {}
        for i, gr in enumerate(graphs):
            by.setdefault(_workload(gr), []).append(i)
        chunks: list[list[int]] = [[]]
        for idx in by.values():
            if chunks[-1] and len(chunks[-1]) + len(idx) > size:
                chunks.append([])
            chunks[-1] += idx
        return [c for c in chunks if c]

    def predict(self, graphs: Sequence[Any]) -> np.ndarray:
        """Mean over the ensemble of each network's score, standardised by its training scores."""
        if not self.nets:
            return np.zeros(len(graphs))
        scores = self._scores(self.nets, graphs)
        return sum((s - mu) / sd for s, (mu, sd) in zip(scores, self.scale)) / len(self.nets)

    def state(self) -> dict[str, Any]:
        """Plain data: the hyperparameters, standardisation tensors, input widths, score scales
        and each network's weights as a dict of tensors."""
        return {
            "arch": ARCH,
            "hp": dict(self.hp),
            "norm": dict(self.norm),
            "dims": self.dims,
            "scale": [[float(mu), float(sd)] for mu, sd in self.scale],
            "weights": [dict(net.state_dict()) for net in self.nets],
        }

    @property
    def dims(self) -> list[int] | None:
        """Input widths of the networks: node, graph, flat (0 = no flat branch)."""
        if not self.nets:
            return None
        net = self.nets[0]
        flat = 0 if net.flat is None else net.flat[0].in_features
        return [net.encode[0].in_features, net.graph[0].in_features, flat]

    def load_state(self, state: dict[str, Any]) -> None:
        """Rebuild the networks from `state`; CostModelError when it is not what `state` writes."""
        import torch

        if state.get("arch") not in READS:
            raise CostModelError(
                f"GNN checkpoint of architecture {state.get('arch', 'gnn-1')!r}, this version reads "
                f"{' and '.join(map(repr, READS))}: retrain it with `autotune costmodel train`"
            )
        hp, norm, dims = state.get("hp"), state.get("norm"), state.get("dims")
        scale, weights = state.get("scale"), state.get("weights")
        if not isinstance(hp, dict) or not set(self.hp) - {"center", "loss"} <= set(hp):
            raise CostModelError("GNN checkpoint: 'hp' is not a dict of its hyperparameters")
        if hp.get("loss", "pairwise") not in LOSSES:
            raise CostModelError(f"GNN checkpoint: unknown loss {hp.get('loss')!r}")
        if not isinstance(norm, dict) or not all(isinstance(v, torch.Tensor) for v in norm.values()):
            raise CostModelError("GNN checkpoint: 'norm' is not a dict of tensors")
        if not isinstance(weights, list) or not all(isinstance(w, dict) for w in weights):
            raise CostModelError("GNN checkpoint: 'weights' is not a list of state dicts")
        if weights and not (
            isinstance(dims, (list, tuple)) and len(dims) == 3 and all(type(d) is int for d in dims)
        ):
            raise CostModelError("GNN checkpoint: 'dims' is not three input widths")
        if not (
            isinstance(scale, (list, tuple))
            and len(scale) == len(weights)
            and all(isinstance(x, (list, tuple)) and len(x) == 2 for x in scale)
            and all(type(v) in (int, float) for x in scale for v in x)
        ):
            raise CostModelError("GNN checkpoint: 'scale' is not a (mean, std) pair per network")
        self.hp = {**hp, "center": hp.get("center", False), "loss": hp.get("loss", "pairwise")}
        self.norm = dict(norm)
        self.scale = [(float(mu), float(sd)) for mu, sd in scale]
        self.nets = []
        for w in weights:
            net = self._build(dims)
            net.load_state_dict(w)
            net.eval()
            self.nets.append(net)
