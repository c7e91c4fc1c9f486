"""Warm starts across workloads: the fastest traces of similar subgraphs, replayed on a new one.

A model repeats its kernels with small differences: ResNet's 3x3 convolutions of one stage
with and without the residual add, BERT's query, key, value and output projections (one
shape, different epilogues). A trace tuned for one often applies to the other as it is
(the same loops, tiles and layouts) and is a far better first guess than a random sample.
`similar_schedules` picks the workloads most like a new one on the same target (the same
leading operator; the most argument shapes in common, then the nearest shapes of the same
ranks: ResNet's other stages for a 3x3 convolution of 128 channels), replays their fastest
traces on the new module and returns those that apply: candidates to be measured here like
any other, never results; with a `rank` (the job's cost model), the first `RANK_POOL`
replays that apply are ordered by it first. (On other loop extents TVM's replay keeps a tile
split's inner factors where their product divides the new extent, else puts the whole extent innermost;
refitting each factor to the nearest divisor was measured no better, see
benchmarks/README.md.) Every trace is checked by `traces.check` before it is replayed (a
merged database is data from elsewhere), and every replay must compute what the untuned
module computes before it is returned (one run of the untuned module: not worth it where
that takes over `MAX_REFERENCE_S`).

Example::

    for config, sch_mod in similar_schedules(db, target_id, mod, "fused_conv2d_add_relu", 4, target):
        outcome = session.run_candidate(sch_mod)
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from autotune.backends.base import DeviceLost
from autotune.backends.tvm import traces
from autotune.db.base import TuningDatabase

#: Workloads looked at per new one (most alike first) and traces replayed from each.
MAX_SOURCES = 16
TRACES_PER_SOURCE = 2
#: The check of a replay runs the untuned module once; slower ones get no warm start.
MAX_REFERENCE_S = 1.0
#: Replays the cost model ranks when it orders the warm start (`similar_schedules(rank=...)`).
RANK_POOL = 16


def leading_op(name: str) -> str:
    """The first operator of a fused subgraph's name: "fused_conv2d_add_relu1" -> "conv2d"."""
    stem = re.sub(r"^fused_", "", name)
    return re.sub(r"\d+$", "", stem.split("_")[0]) or stem


def _args(args_info: Any) -> list[tuple[str, tuple[int, ...]]]:
    """A workload's arguments as (dtype, shape), in order (MetaSchedule's ArgInfo JSON)."""
    return [
        (str(a[1]), tuple(int(s) for s in a[2]))
        for a in args_info or []
        if isinstance(a, list) and len(a) == 3 and isinstance(a[2], list)
    ]


def _distance(mine: list, theirs: list) -> float | None:
    """How far apart two workloads' argument shapes are: the sum over their dimensions, argument
    by argument, of |log(ratio)|; None when their dtypes or ranks differ (other loops)."""
    if len(mine) != len(theirs) or any(
        a[0] != b[0] or len(a[1]) != len(b[1]) for a, b in zip(mine, theirs, strict=True)
    ):
        return None
    pairs = (dims for a, b in zip(mine, theirs, strict=True) for dims in zip(a[1], b[1], strict=True))
    return sum(abs(math.log(max(p, 1) / max(q, 1))) for p, q in pairs)


def similar_workloads(
    db: TuningDatabase, name: str, args_info: Any, exclude: int, limit: int = MAX_SOURCES
) -> list[int]:
    """TVM workloads with the same leading operator as `name` that share an argument shape
    with it or have arguments of the same dtypes and ranks (another channel count, another
    sequence length): most shapes shared first, then nearest in size, newest among equals."""
    mine, op = _args(args_info), leading_op(name)
    mine_counted = Counter(mine)
    scored = []
    for row in db.workloads("tvm", with_ir=False):
        if row["id"] == exclude or leading_op(str(row["name"])) != op:
            continue
        theirs = _args((row.get("meta") or {}).get("args_info"))
        shared = sum((mine_counted & Counter(theirs)).values())
        distance = _distance(mine, theirs)
        if shared or distance is not None:
            far = math.inf if distance is None else distance
            scored.append((-shared, far, -int(row["id"]), int(row["id"])))
    return [wid for *_, wid in sorted(scored)[:limit]]


def similar_schedules(
    db: TuningDatabase,
    target_id: int,
    mod: Any,
    name: str,
    limit: int,
    target: Any,
    exclude: int = -1,
    on_device: Callable[[Callable[[Any], Any]], Any] | None = None,
    rank: Callable[[list[Any]], Sequence[float]] | None = None,
) -> list[tuple[dict[str, Any], Any]]:
    """Up to `limit` distinct schedules of `mod` from the fastest traces of similar workloads
    measured on this target: (config, scheduled module) pairs, most similar source first, or
    best first by `rank` (a score per `tvm.s_tir.Schedule`, higher = faster: the cost model)
    over the first `RANK_POOL` replays that apply.

    Each one computed what the untuned module computes, on random inputs: a trace replayed
    on other shapes can apply and still be wrong (a weight layout rewrite made for another
    weight shape is no longer one-to-one), so every replay is checked, at most 2 x `limit`;
    built here, run where `on_device` runs `fn(place)` (`TvmSession.on_device`; default: in
    this process).
    """
    from autotune.backends.tvm.database import plain_trace

    if limit <= 0:
        return []
    pool: Iterable[Any] = _replays(db, target_id, mod, name, exclude)
    if rank is not None:
        pool = list(itertools.islice(pool, RANK_POOL))
        scores = [float(x) for x in rank(pool)] if len(pool) > 1 else [0.0] * len(pool)
        if len(scores) != len(pool):
            raise ValueError(f"rank gave {len(scores)} scores for {len(pool)} schedules")
        # Best score first; among equals, the most similar source first (a stable sort).
        pool = [pool[i] for i in sorted(range(len(pool)), key=lambda i: -scores[i])]
    out: list[tuple[dict[str, Any], Any]] = []
    check = _Check(mod, target, on_device)
    for sch in pool:
        if check.attempts >= 2 * limit:
            break
        if check(sch.mod):
            out.append(({"trace": plain_trace(sch.trace)}, sch.mod))
            if len(out) >= limit:
                break
    return out


def _replays(db: TuningDatabase, target_id: int, mod: Any, name: str, exclude: int) -> Iterator[Any]:
    """The distinct schedules of `mod` that similar workloads' fastest traces replay to (those
    that apply), most similar source first, lazily: replaying costs a few ms each."""
    import tvm
    import tvm_ffi

    from autotune.backends.tvm.database import args_info_json

    seen: set[int] = set()
    for wid in similar_workloads(db, name, args_info_json(mod), exclude):
        for rec in db.fastest(wid, target_id, k=TRACES_PER_SOURCE + 1):
            if rec.kind == "default" or not isinstance(rec.config, dict) or "trace" not in rec.config:
                continue
            if traces.check(rec.config["trace"]):
                continue
            sch = tvm.s_tir.Schedule(mod)
            try:
                tvm.s_tir.schedule.Trace.apply_json_to_schedule(rec.config["trace"], sch)
            except Exception:  # another workload's loops or blocks: this trace does not apply
                continue
            key = int(tvm_ffi.structural_hash(sch.mod))
            if key not in seen:
                seen.add(key)
                yield sch


class _Check:
    """Whether a schedule of `mod` computes what the untuned module computes (random inputs,
    weights in their original layout, `compare.mismatch`); the reference built on first use."""

    def __init__(
        self, mod: Any, target: Any, on_device: Callable[[Callable[[Any], Any]], Any] | None = None
    ) -> None:
        from autotune.backends.tvm import measure

        self.mod, self.target, self.attempts = mod, target, 0
        self.on_device = on_device or (lambda fn: fn(measure.HERE))
        self._args: Any = None
        self._want: Any = None

    def __call__(self, scheduled: Any) -> bool:
        from autotune import compare
        from autotune.backends.tvm import measure

        self.attempts += 1
        try:
            if self._args is None:
                self._args = measure.random_args(self.mod, seed=7, prepacked=False)
            reference = measure.compile_func(self.mod, self.target) if self._want is None else None
            built = measure.compile_func(scheduled, self.target, prepacked=False)

            def run(place: Any) -> list[Any]:
                if reference is not None:
                    self._want = measure.run_func(place.load(reference), self._args, dev=place.dev)
                return measure.run_func(place.load(built), self._args, dev=place.dev)

            got = self.on_device(run)
        except DeviceLost:
            raise
        except Exception:  # a replay that does not build or run is no candidate
            return False
        return compare.mismatch(got, self._want) == ""
