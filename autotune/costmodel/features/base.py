"""The featurizer extension point: a candidate (workload + config) becomes a PyG graph.

Every featurizer returns `torch_geometric.data.Data` objects with the same fields, so that
every cost model can read every backend:

- ``x``          float32 [num_nodes, NODE_DIM]   node features (ops / stores, with the
                 config features of the decisions that affect the node)
- ``edge_index`` int64   [2, num_edges]          data flow and structure edges
- ``g``          float32 [1, GRAPH_DIM]          graph-level features (config, cost numbers)
- ``flat``       float32 [1, FLAT_DIM]           the fixed-length vector a tree model reads
                 (for TVM: MetaSchedule's per-store features pooled, as its XGBoost model)
- ``workload_key`` int (optional)                which workload the candidate belongs to;
                 a listwise model (the GNN's `center`) needs it to rank several workloads'
                 candidates in one call

Dimensions are fixed per featurizer and vocabulary version (`VOCAB_VERSION`), recorded
with every saved model, so a checkpoint keeps working or is refused with a clear error.

Example::

    f = create("hlo")
    graphs = f.graphs(workload_row, [config_a, config_b])   # one Data per config
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from autotune.registry import Registry


class Featurizer(abc.ABC):
    """Turns the candidates of one workload into graphs."""

    #: Registry name and the backend whose candidates it reads ("tvm" or "xla").
    name: str = ""
    backend: str = ""
    #: Bumped whenever a feature's meaning or position changes.
    VOCAB_VERSION: str = ""
    NODE_DIM: int = 0
    GRAPH_DIM: int = 0
    FLAT_DIM: int = 0

    @abc.abstractmethod
    def graphs(self, workload: dict[str, Any], configs: Sequence[Any]) -> list[Any]:
        """One `Data` per config of a workload (a database workload row: ir, meta, name...).

        A config that cannot be featurized (a trace that no longer applies) gives None in
        its place, never an exception."""

    def signature(self) -> dict[str, Any]:
        """What a saved model must match to be used with this featurizer."""
        return {
            "featurizer": self.name,
            "vocab_version": self.VOCAB_VERSION,
            "node_dim": self.NODE_DIM,
            "graph_dim": self.GRAPH_DIM,
            "flat_dim": self.FLAT_DIM,
        }


REGISTRY: Registry[type[Featurizer]] = Registry(
    "featurizer", {"tir": "autotune.costmodel.features.tir", "hlo": "autotune.costmodel.features.hlo"}
)
register = REGISTRY.register
kinds = REGISTRY.kinds


def create(name: str, **kwargs: Any) -> Featurizer:
    """A featurizer by name: 'tir' (TVM scheduled TIR) or 'hlo' (XLA HLO + config)."""
    return REGISTRY.create(name, **kwargs)


def for_backend(backend: str, **kwargs: Any) -> Featurizer:
    """The featurizer that reads a backend's candidates (its class's `backend`)."""
    for name, cls in sorted(REGISTRY.classes().items()):
        if cls.backend == backend:
            return create(name, **kwargs)
    raise ValueError(f"no featurizer reads {backend!r} candidates; known: {', '.join(kinds())}")
