"""Training data from a tuning database: every measured candidate as a graph with its
latency relative to its workload's default (or, without one, as in an imported MetaSchedule
log, to its fastest candidate), grouped by (workload, target).

Splits are by workload, never by candidate, so evaluation measures transfer to workloads
the model has not seen; `holdout_kind` holds out every workload of one operator kind
(e.g. all convolutions) to measure transfer to a kind never seen in training.

Example::

    data = load_dataset(db, "xla")
    train, test = data.split(test_fraction=0.25, seed=0)
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from autotune.costmodel.features.base import Featurizer, for_backend

SOURCES = ("tune", "simplify", "default", "import")


@dataclass
class Dataset:
    """Featurized candidates: graphs, latencies (s), relative latencies, groups, workload names."""

    graphs: list[Any] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    relative: list[float] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # group -> workload name
    models: dict[int, frozenset[str]] = field(default_factory=dict)  # group -> models it is part of

    def __len__(self) -> int:
        return len(self.graphs)

    def subset(self, keep: set[int]) -> Dataset:
        """The candidates of the given groups."""
        idx = [i for i, g in enumerate(self.groups) if g in keep]
        return Dataset(
            [self.graphs[i] for i in idx],
            [self.latency[i] for i in idx],
            [self.relative[i] for i in idx],
            [self.groups[i] for i in idx],
            {g: n for g, n in self.names.items() if g in keep},
            {g: m for g, m in self.models.items() if g in keep},
        )

    def merge(self, other: Dataset) -> Dataset:
        """Both datasets' candidates (groups must not collide: take both from one split)."""
        return Dataset(
            self.graphs + other.graphs,
            self.latency + other.latency,
            self.relative + other.relative,
            self.groups + other.groups,
            {**self.names, **other.names},
            {**self.models, **other.models},
        )

    def split(
        self, test_fraction: float = 0.25, seed: int = 0, holdout_kind: str | None = None
    ) -> tuple[Dataset, Dataset]:
        """(train, test) by workload; with holdout_kind, test = every workload of that kind."""
        groups = sorted(set(self.groups))
        if holdout_kind:
            test = {g for g in groups if workload_kind(self.names[g]) == holdout_kind}
            if not test:
                kinds = sorted({workload_kind(n) for n in self.names.values()})
                raise ValueError(f"no workload of kind {holdout_kind!r}; kinds here: {', '.join(kinds)}")
        else:
            rng = random.Random(seed)
            rng.shuffle(groups)
            test = set(groups[: max(1, round(len(groups) * test_fraction))])
        return self.subset(set(groups) - test), self.subset(test)


def workload_kind(name: str) -> str:
    """The operator kind of a workload name: 'dense', 'conv2d', 'softmax', ...

    Zoo op models are named 'op-<kind>-<shape>'; TVM fused subgraphs 'fused_<op>_<op>...'
    (the first op that is not elementwise); anything else is its own kind.
    """
    m = re.match(r"op-([a-z0-9]+)-", name)
    if m:
        return {"mlp2": "dense", "matmul": "dense", "bmm": "dense"}.get(m.group(1), m.group(1))
    # TVM numbers repeated subgraph names ("conv2d4", "matmul2"): drop trailing digits.
    parts = [re.sub(r"(?<=[a-z])\d+$", "", p) if not p.endswith("2d") else p for p in name.split("_")]
    parts = [p for p in parts if p and p != "fused"]
    if any(p.endswith(("pool1d", "pool2d", "pool3d")) for p in parts):
        return "pool"
    for p in parts:
        if p.startswith(("conv1d", "conv2d", "conv3d")):
            return "conv2d"
        if p in ("matmul", "dense", "bmm", "batch"):
            return "dense"
        if p in ("softmax", "layer", "norm", "mean", "variance", "sum", "max", "take"):
            return {"layer": "layernorm", "norm": "layernorm", "sum": "reduce"}.get(p, p)
    return parts[0] if parts else name


def _rows(db: Any, wid: int, tid: int) -> tuple[list[tuple[Any, float]], float | None]:
    """(config, best median) of every config measured ok, and the default's latency."""
    best: dict[str, tuple[Any, float]] = {}
    for o in db.outcomes(wid, tid):
        if o["status"] != "ok" or o["source"] not in SOURCES or o["median"] is None:
            continue
        key = o["config"]
        if key not in best or o["median"] < best[key][1]:
            best[key] = (json.loads(key), float(o["median"]))
    return list(best.values()), db.default_latency(wid, tid)


def load_dataset(
    db: Any,
    backend: str,
    featurizer: Featurizer | None = None,
    min_candidates: int = 4,
    workloads: Sequence[int] | None = None,
) -> Dataset:
    """Every (workload, target) of a backend with at least `min_candidates` ok candidates."""
    feat = featurizer or for_backend(backend)
    data = Dataset()
    targets = [tid for tid, info in db.targets() if info.compiler == backend]
    part_of = _models_of_workloads(db)
    group = 0
    for w in db.workloads(compiler=backend):
        if workloads is not None and w["id"] not in workloads:
            continue
        for tid in targets:
            rows, default = _rows(db, w["id"], tid)
            if len(rows) < min_candidates:
                continue
            graphs = feat.graphs(w, [c for c, _ in rows])
            kept = [(g, lat) for g, (_, lat) in zip(graphs, rows) if g is not None]
            if len(kept) < min_candidates:
                continue
            # A ranking needs only latencies relative to each other within the workload: the
            # default's, else (an imported log has none) the fastest candidate's, is 1.
            reference = default if default is not None else min(lat for _, lat in kept)
            for g, lat in kept:
                data.graphs.append(g)
                data.latency.append(lat)
                data.relative.append(lat / reference)
                data.groups.append(group)
            data.names[group] = w["name"]
            data.models[group] = part_of.get(w["id"], frozenset())
            group += 1
    return data


def _models_of_workloads(db: Any) -> dict[int, frozenset[str]]:
    """Workload id -> the names of the models whose composition holds it."""
    out: dict[int, set[str]] = {}
    for m in db.models():
        model = db.model(m["name"], m["compiler"])
        for w, _ in model["workloads"] if model else ():
            out.setdefault(w["id"], set()).add(m["name"])
    return {wid: frozenset(names) for wid, names in out.items()}
