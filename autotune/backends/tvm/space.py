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
