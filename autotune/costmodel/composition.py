"""The cost model of a whole model under a graph-level config, from the subgraphs it fuses into:
it ranks the joint search's graph-level configs before any is built or has a kernel tuned.

A graph-level config (TVM: conv layouts, ops kept out of fusion, the GELU form) changes which
fused subgraphs the model has. Its end-to-end latency is predicted as the weighted sum over
those subgraphs (`Part`) of:
- the best latency measured here for the subgraph, when the model or an earlier config
  already had it (tuned, or its default when it was never searched);
- else its roofline floor (`Session.floor`: flops at this host's GEMM peak, bytes at its copy
  bandwidth) times what the measured subgraphs of the same op family reached against theirs
  (the median of best / floor over every measured subgraph the ranker has seen, the model's
  own graph's first; over every family when it has none; 1 when nothing is known).
So a config that only adds kernels (an op kept out of fusion) or makes new ones of a family
that is far above its floor here ranks low, and one whose new kernels replace ones that are
far above their family's usual ratio ranks high. It learns from the database: the subgraphs a
measured config made are tuned and measured before it is timed, and from then on they count
as measured. `learn` keeps each prediction beside its end-to-end outcome (`outcomes`).

Example::

    ranker = CompositionRanker(parts_of)       # parts_of(config) -> list[Part] | None
    ranker.predicted({})                       # the model's own graph: its measured parts
    ranker.measured({})                        # ... and built: a config of its subgraphs is last
    i = ranker.best([cfg_a, cfg_b, cfg_c])     # the one predicted fastest
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from autotune.db.records import canonical_json


@dataclass(frozen=True)
class Part:
    """One fused subgraph of a config: how often it runs, what is known of its latency."""

    family: str  # its leading op, e.g. 'conv2d', 'matmul', 'gelu'
    weight: int
    best_s: float | None  # the fastest measured here (None: never measured)
    floor_s: float | None  # its roofline floor (None: unknown, e.g. symbolic shapes)
    key: str = ""  # its fingerprint


#: Ops that only move or retype data: a fused subgraph's family is the first op not among them.
MOVES = frozenset({"reshape", "transpose", "cast", "broadcast", "to", "squeeze", "expand", "dims", "permute"})


def family(task_name: str) -> str:
    """A fused subgraph's op family from its task name: its first op that computes, a fast
    form being a family of its own ('fused_reshape7_gelu_reshape8' -> 'gelu',
    'fused_conv2d1_add_relu' -> 'conv2d', 'fused_reshape_fast_gelu' -> 'fast_gelu')."""
    ops = [t.rstrip("0123456789") for t in task_name.removeprefix("fused_").split("_")]
    ops = [t for t in ops if t]
    for i, op in enumerate(ops):
        if op in MOVES:
            continue
        return f"fast_{ops[i + 1]}" if op == "fast" and i + 1 < len(ops) else op
    return ops[0] if ops else task_name


def ratios(measured: Iterable[Part]) -> dict[str, list[float]]:
    """Per op family, best / floor of the measured parts (what this host reached there)."""
    out: dict[str, list[float]] = {}
    for p in measured:
        if p.best_s is not None and p.floor_s:
            out.setdefault(p.family, []).append(p.best_s / p.floor_s)
    return out


def predict(parts: Sequence[Part], known: Iterable[Part] = ()) -> float | None:
    """The config's predicted latency in seconds, its unmeasured parts estimated from the
    ratios of `known` and its own measured parts (None when a part cannot be estimated)."""
    by_family = ratios([*known, *parts])
    every = [r for rs in by_family.values() for r in rs]
    total = 0.0
    for p in parts:
        if p.best_s is not None:
            total += p.weight * p.best_s
            continue
        if not p.floor_s:
            return None
        reached = by_family.get(p.family) or every
        total += p.weight * p.floor_s * (statistics.median(reached) if reached else 1.0)
    return total


class CompositionRanker:
    """Ranks graph-level configs by `predict` on their parts (the joint search's ranker, with
    the interface of `autotune.costmodel.ranker.Ranker`: `best`, `learn`, `seconds`, `ranked`)."""

    #: Trials measured as proposed before it ranks: none, it needs no outcomes of its own.
    warmup = 0

    def __init__(self, parts_of: Callable[[dict[str, Any]], list[Part] | None]) -> None:
        self.parts_of = parts_of
        self.seconds = 0.0
        self.ranked = 0
        self.known: dict[str, Part] = {}  # every measured part seen, by fingerprint
        self.predictions: dict[str, float] = {}  # config key -> predicted seconds
        self.outcomes: list[tuple[float, float]] = []  # (predicted, measured) relative to the default
        self.built: set[frozenset[tuple[str, int]]] = set()  # subgraph sets of the configs measured

    def _signature(self, parts: list[Part] | None) -> frozenset[tuple[str, int]] | None:
        return (
            None
            if parts is None or not all(p.key for p in parts)
            else frozenset((p.key, p.weight) for p in parts)
        )

    def measured(self, config: dict[str, Any]) -> None:
        """A config that was built and measured: one of the same subgraphs is ranked last."""
        sig = self._signature(self.parts_of(config))
        if sig is not None:
            self.built.add(sig)

    def predicted(self, config: dict[str, Any], parts: list[Part] | None = None) -> float | None:
        """The predicted latency of one config, in seconds (`parts`: its parts, if read)."""
        parts = self.parts_of(config) if parts is None else parts
        if parts is None:
            return None
        mine = {p.key for p in parts}
        value = predict(parts, [p for k, p in self.known.items() if k not in mine])
        self.known.update({p.key: p for p in parts if p.best_s is not None and p.key})
        if value is not None:
            self.predictions[canonical_json(config)] = value
        return value

    def best(self, configs: Sequence[dict[str, Any]]) -> int:
        """Index of the config predicted fastest; one whose subgraphs are those of a config
        measured already (it would build the same model) comes last, and one that cannot be
        predicted after those that can (in the strategy's order among equals)."""
        t0 = time.perf_counter()
        try:
            order = []
            for i, config in enumerate(configs):
                parts = self.parts_of(config)
                score = self.predicted(config, parts)
                self.ranked += score is not None
                again = self._signature(parts) in self.built
                order.append((again, score is None, score or 0.0, i))
            return min(order)[3]
        finally:
            self.seconds += time.perf_counter() - t0

    def learn(self, config: dict[str, Any], relative: float | None) -> None:
        """Keep the prediction beside the outcome (what `outcomes` reports); the model itself
        learns from the database, where the config's new subgraphs are now measured."""
        self.measured(config)
        base, mine = self.predictions.get(canonical_json({})), self.predictions.get(canonical_json(config))
        if relative is not None and base and mine:
            self.outcomes.append((mine / base, relative))
