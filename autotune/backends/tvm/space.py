"""The design space a TVM subgraph is tuned in: MetaSchedule's rules for the target, plus ours.

MetaSchedule's own rules for an llvm target (multi-level tiling, auto-inline, rfactor,
parallel/vectorize/unroll, compute location) and its postprocessors (including
`RewriteLayout`, which packs each weight in the order the schedule reads it), with
`RegisterTile` inserted after the custom-rule hook: for reductions on a CPU with vector
registers it adds register-blocked design spaces sized to the target's vector width.

Example::

    space = design_space(target)          # a PostOrderApply space generator
    lanes = vector_lanes(target)          # 16 on an AVX-512 CPU (fp32)
"""

from __future__ import annotations

import math
from typing import Any

#: fp32 lanes per vector register, by the widest vector extension the target has.
_LANES = (("avx512f", 16), ("avx2", 8), ("avx", 8), ("neon", 4), ("sse4.2", 4))


def vector_lanes(target: Any) -> int:
    """fp32 lanes of the target's widest vector registers (1 when it has none we know)."""
    from tvm.target import codegen

    for feature, lanes in _LANES:
        try:
            if codegen.target_has_features(feature, target):
                return lanes
        except Exception:  # a feature name this target's LLVM backend does not know
            continue
    return 1


def default_rules(target: Any) -> list[Any]:
    """The schedule rules MetaSchedule picks for `target` ("from-target": on an x86 CPU with
    AVX-512 they include its int8 VNNI tiling), read off a context on a trivial workload."""
    import tvm
    from tvm import te
    from tvm.s_tir import meta_schedule as ms

    from autotune.backends.tvm.fastimport import import_tensor_intrin

    import_tensor_intrin()  # TuneContext imports it: ~25 s without the memoised getmodule
    a = te.placeholder((16,), name="a")
    b = te.compute((16,), lambda i: a[i] + 1.0, name="b")
    mod = tvm.IRModule({"main": te.create_prim_func([a, b])})
    ctx = ms.TuneContext(mod, target=target, space_generator="post-order-apply", num_threads=1)
    return list(ctx.space_generator.sch_rules)


def design_space(target: Any) -> Any:
    """MetaSchedule's post-order-apply space for `target`, with `RegisterTile` added."""
    from tvm.s_tir import meta_schedule as ms

    from autotune.backends.tvm.register_tile import RegisterTile

    rules = default_rules(target)
    lanes = vector_lanes(target)
    if lanes >= 4:
        rules.insert(1, RegisterTile(vector_lanes=lanes))
    return ms.space_generator.PostOrderApply(
        sch_rules=rules, postprocs="from-target", mutator_probs="from-target"
    )


#: The sampling instructions of a MetaSchedule trace that `sampled_decisions` describes.
_SAMPLED = {"SamplePerfectTile": "tile", "SampleCategorical": "codegen"}


def _factorizations(extent: int, n: int, max_innermost: int) -> list[tuple[int, ...]]:
    """Every ordered split of `extent` into `n` factors whose innermost is at most
    `max_innermost` (-1: any): the choices of a SamplePerfectTile."""
    out: list[tuple[int, ...]] = []

    def rec(left: int, k: int, prefix: tuple[int, ...]) -> None:
        if k == 1:
            if max_innermost < 0 or left <= max_innermost:
                out.append((*prefix, left))
            return
        for f in range(1, left + 1):
            if left % f == 0:
                rec(left // f, k - 1, (*prefix, f))

    rec(extent, n, ())
    return out


def sampled_decisions(mod: Any, target: Any) -> list[Any]:
    """A subgraph's design space as `Decision`s: 'sketch' (which of the design spaces the
    rules made; None: TVM's untuned schedule) and, per sketch, each tile size it samples
    (kind tile, every perfect split of the loop) and each categorical it samples (kind
    codegen: unroll depths and the like). A sampled decision's default is its first choice:
    the untuned build samples none of them. Names: 'sketch<k>/<instruction index>:<kind>'."""
    from tvm.s_tir import meta_schedule as ms

    from autotune.passes.base import Decision

    ctx = ms.TuneContext(mod, target=target, space_generator=design_space(target), num_threads=1)
    schedules = list(ctx.space_generator.generate_design_space(mod))
    out = [Decision("sketch", "subgraph", "tile", (None, *range(len(schedules))), None, "design space")]
    for k, sch in enumerate(schedules):
        for i, inst in enumerate(sch.trace.insts):
            kind = _SAMPLED.get(inst.kind.name)
            if kind is None:
                continue
            if inst.kind.name == "SamplePerfectTile":
                n, innermost = (int(a) for a in inst.attrs[:2])
                sampled = sch.trace.decisions.get(inst)
                if sampled is None:
                    continue
                extent = math.prod(int(getattr(f, "value", f)) for f in sampled)  # the loop's extent
                choices: tuple[Any, ...] = tuple(_factorizations(extent, n, innermost))
                doc = f"split of a loop of {extent} into {n}"
            else:
                choices = tuple(int(getattr(c, "value", c)) for c in inst.attrs[0])
                doc = "sampled extent (unroll, vector or thread count)"
            if choices:
                out.append(
                    Decision(f"sketch{k}/{i}:{inst.kind.name}", "subgraph", kind, choices, choices[0], doc)
                )
    return out


def sketch_space_size(decisions: list[Any]) -> int:
    """Distinct schedules of `sampled_decisions`: the untuned one, and per sketch the product
    of the choices of the decisions it samples."""
    per: dict[str, int] = {}
    for d in decisions:
        if "/" in d.name:
            sketch = d.name.split("/", 1)[0]
            per[sketch] = per.get(sketch, 1) * len(d.choices)
    sketches = next((len(d.choices) - 1 for d in decisions if d.name == "sketch"), 0)
    return 1 + sum(per.get(f"sketch{k}", 1) for k in range(sketches))
