"""Warm starts across workloads: the fastest traces of similar subgraphs, replayed on a new one.

A model repeats its kernels with small differences: ResNet's 3x3 convolutions of one stage
with and without the residual add, BERT's query, key, value and output projections (one
shape, different epilogues). A trace tuned for one often applies to the other as it is
(the same loops, tiles and layouts) and is a far better first guess than a random sample.
`similar_schedules` picks the workloads most like a new one on the same target (the same
leading operator, the most argument shapes in common), replays their fastest traces on the
new module and returns those that apply: candidates to be measured here like any other,
never results. Every trace is checked by `traces.check` before it is replayed (a merged
database is data from elsewhere), and every replay must compute what the untuned module
computes before it is returned (one run of the untuned module: not worth it where that
takes over `MAX_REFERENCE_S`).

Example::

    for config, sch_mod in similar_schedules(db, target_id, mod, "fused_conv2d_add_relu", 4, target):
        outcome = session.run_candidate(sch_mod)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from autotune.backends.base import DeviceLost
from autotune.backends.tvm import traces
from autotune.db.base import TuningDatabase

#: Workloads looked at per new one (most alike first) and traces replayed from each.
MAX_SOURCES = 16
TRACES_PER_SOURCE = 2
#: The check of a replay runs the untuned module once; slower ones get no warm start.
MAX_REFERENCE_S = 1.0


def leading_op(name: str) -> str:
    """The first operator of a fused subgraph's name: "fused_conv2d_add_relu1" -> "conv2d"."""
    stem = re.sub(r"^fused_", "", name)
    return re.sub(r"\d+$", "", stem.split("_")[0]) or stem


def _shapes(args_info: Any) -> Counter:
    """The multiset of (dtype, shape) of a workload's arguments (MetaSchedule's ArgInfo JSON)."""
    out: Counter = Counter()
    for a in args_info or []:
        if isinstance(a, list) and len(a) == 3:
            out[(str(a[1]), tuple(int(s) for s in a[2]))] += 1
    return out


def similar_workloads(
    db: TuningDatabase, name: str, args_info: Any, exclude: int, limit: int = MAX_SOURCES
) -> list[int]:
    """TVM workloads with the same leading operator as `name`, most argument shapes shared
    first (at least one), newest first among equals."""
    mine, op = _shapes(args_info), leading_op(name)
    scored = []
    for row in db.workloads("tvm", with_ir=False):
        if row["id"] == exclude or leading_op(str(row["name"])) != op:
            continue
        shared = sum((mine & _shapes((row.get("meta") or {}).get("args_info"))).values())
        if shared:
            scored.append((-shared, -int(row["id"]), int(row["id"])))
    return [wid for _, _, wid in sorted(scored)[:limit]]


def similar_schedules(
    db: TuningDatabase,
    target_id: int,
    mod: Any,
    name: str,
    limit: int,
    target: Any,
    exclude: int = -1,
    on_device: Callable[[Callable[[Any], Any]], Any] | None = None,
) -> list[tuple[dict[str, Any], Any]]:
    """Up to `limit` distinct schedules of `mod` from the fastest traces of similar workloads
    measured on this target: (config, scheduled module) pairs, most similar source first.

    Each one computed what the untuned module computes, on random inputs: a trace replayed
    on other shapes can apply and still be wrong (a weight layout rewrite made for another
    weight shape is no longer one-to-one), so every replay is checked, at most 2 x `limit`;
    built here, run where `on_device` runs `fn(place)` (`TvmSession.on_device`; default: in
    this process).
    """
    import tvm
    import tvm_ffi

    from autotune.backends.tvm.database import args_info_json, plain_trace

    if limit <= 0:
        return []
    out: list[tuple[dict[str, Any], Any]] = []
    seen: set[int] = set()
    check = _Check(mod, target, on_device)
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
            if key in seen:
                continue
            seen.add(key)
            if check.attempts >= 2 * limit:
                return out
            if check(sch.mod):
                out.append(({"trace": plain_trace(sch.trace)}, sch.mod))
                if len(out) >= limit:
                    return out
    return out


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
