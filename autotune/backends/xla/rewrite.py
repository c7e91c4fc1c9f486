"""Subgraph-level rewrites of a JAX program, applied to its traced form (the jaxpr).

XLA offers no per-op knob for a tensor's layout or for where a fusion stops; JAX does, in
the program: `with_layout_constraint` pins the physical layout of one intermediate tensor,
`optimization_barrier` keeps the ops on either side of a tensor out of one fusion. A
`Rewrite` names one equation of the function's top-level jaxpr (by position, checked
against its primitive and shape) and what to do with its output. `rewritten` traces the
function, checks every rewrite still matches, and returns a function that evaluates the
jaxpr equation by equation with the rewrites inserted: jitted, it is the program that was
measured. A rewrite that no longer matches raises `StaleRewrite` (the loader then warns and
compiles the default).

`program_ops` lists the equations worth a decision (rank >= 2, large enough); it is stored
in the workload's info, so the passes (autotune/passes/xla_tensor_layout.py,
xla_fusion_cut.py) can offer decisions at compile time without tracing again.

Example::

    ops = program_ops(fn, args)                      # [{"i": 16, "op": "dot_general", ...}, ...]
    f = rewritten(fn, args, [Rewrite(16, "dot_general", (2, 64, 384), cut=True)])
    jax.jit(f)(*args)                                 # same results, one fusion boundary more
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: Equations whose output has fewer elements than this are not worth a decision.
MIN_ELEMENTS = 1024
#: At most this many equations are listed (largest outputs first, then program order).
MAX_OPS = 96
#: Primitives whose operands a layout decision is about (their operands' layouts matter most).
CONTRACTIONS = ("dot_general", "conv_general_dilated")


class StaleRewrite(ValueError):
    """A rewrite names an equation the function no longer has (it changed since tuning)."""


@dataclass(frozen=True)
class Rewrite:
    """One change to the output of equation `index` of the top-level jaxpr.

    `op` and `shape` are what the equation was when the rewrite was chosen; `layout` is a
    `major_to_minor` order for its output (None: XLA's), `cut` puts an optimization
    barrier after it.
    """

    index: int
    op: str
    shape: tuple[int, ...]
    layout: tuple[int, ...] | None = None
    cut: bool = False


def _trace(fn: Any, args: tuple) -> tuple[Any, Any]:
    import jax

    closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
    return closed, jax.tree_util.tree_structure(out_shape)


def program_ops(fn: Any, args: tuple) -> list[dict[str, Any]]:
    """The top-level equations worth a decision: index, primitive, output shape and dtype,
    how many equations use the output, and which contractions it feeds."""
    from jax.extend.core import Literal

    closed, _ = _trace(fn, args)
    eqns = closed.jaxpr.eqns
    users: dict[Any, list[str]] = {}
    for e in eqns:
        for v in e.invars:
            if not isinstance(v, Literal):
                users.setdefault(v, []).append(e.primitive.name)
    outvars = {v for v in closed.jaxpr.outvars if not isinstance(v, Literal)}
    found = []
    for i, e in enumerate(eqns):
        if len(e.outvars) != 1:
            continue
        v = e.outvars[0]
        shape = tuple(int(d) for d in getattr(v.aval, "shape", ()))
        if len(shape) < 2 or math.prod(shape) < MIN_ELEMENTS or v in outvars:
            continue
        uses = users.get(v, [])
        found.append(
            {
                "i": i,
                "op": e.primitive.name,
                "shape": list(shape),
                "dtype": str(v.aval.dtype),
                "uses": len(uses),
                "feeds": sorted({u for u in uses if u in CONTRACTIONS}),
            }
        )
    found.sort(key=lambda o: (-math.prod(o["shape"]), o["i"]))
    return sorted(found[:MAX_OPS], key=lambda o: o["i"])


def _check(eqns: list[Any], rewrites: list[Rewrite]) -> None:
    for r in rewrites:
        if r.index >= len(eqns):
            raise StaleRewrite(f"rewrite of equation {r.index} ({r.op}): the program has {len(eqns)}")
        e = eqns[r.index]
        shape = tuple(int(d) for d in getattr(e.outvars[0].aval, "shape", ())) if e.outvars else ()
        if e.primitive.name != r.op or shape != tuple(r.shape):
            raise StaleRewrite(
                f"rewrite of equation {r.index}: it was {r.op} {list(r.shape)}, "
                f"the program now has {e.primitive.name} {list(shape)} there"
            )


def rewritten(fn: Any, args: tuple, rewrites: list[Rewrite]) -> Any:
    """`fn` as a function of the same arguments with `rewrites` inserted into its jaxpr.

    Traced once here for `args`' shapes; raises StaleRewrite when a rewrite does not match.
    """
    import jax
    from jax.experimental.layout import Layout, with_layout_constraint
    from jax.extend.core import Literal

    closed, out_tree = _trace(fn, args)
    jaxpr = closed.jaxpr
    _check(jaxpr.eqns, rewrites)
    by_index = {r.index: r for r in rewrites}

    def program(*call_args: Any) -> Any:
        env: dict[Any, Any] = {}

        def read(v: Any) -> Any:
            return v.val if isinstance(v, Literal) else env[v]

        env.update(zip(jaxpr.constvars, closed.consts))
        env.update(zip(jaxpr.invars, jax.tree_util.tree_leaves(call_args)))
        for i, e in enumerate(jaxpr.eqns):
            params = e.primitive.get_bind_params(e.params)
            with e.ctx.manager:
                outs = e.primitive.bind(*map(read, e.invars), **params)
            outs = list(outs) if e.primitive.multiple_results else [outs]
            r = by_index.get(i)
            if r is not None:
                if r.layout is not None:
                    outs[0] = with_layout_constraint(outs[0], Layout(major_to_minor=r.layout))
                if r.cut:
                    outs = list(jax.lax.optimization_barrier(tuple(outs)))
            env.update(zip(e.outvars, outs))
        return jax.tree_util.tree_unflatten(out_tree, [read(v) for v in jaxpr.outvars])

    return program
