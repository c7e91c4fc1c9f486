"""How a config becomes an XLA compile: compiler options, disabled passes, layouts, and
rewrites of the program itself.

The passes of autotune/passes/ fill an `XlaBuild` from a config; `jit` hands it to JAX
(`jax.jit(..., in_shardings=Format(...))` for argument and result layouts,
`compiler_options=...` for the rest) after inserting the subgraph-level rewrites (tensor
layouts, fusion cuts) into the traced program (`rewrite.rewritten`). The default config
``{}`` compiles exactly like plain `jax.jit`.

Example::

    build = XlaBuild.from_config({"opt:xla_cpu_prefer_vector_width": 512}, info)
    compiled = build.compile(fn, args)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from autotune.backends.xla.rewrite import Rewrite, StaleRewrite, rewritten

#: The HLO pass that applies `with_layout_constraint` (without it XLA CPU cannot compile one).
LAYOUT_PASS = "algsimp"
XLA_PASSES = ("xla-layout", "xla-fusion", "xla-codegen", "xla-tensor-layout", "xla-fusion-cut")


@dataclass
class XlaBuild:
    """Everything a config changes in one XLA compile of a workload."""

    workload: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    disabled_passes: list[str] = field(default_factory=list)
    in_layouts: dict[int, str] = field(default_factory=dict)
    out_layouts: dict[int, str] = field(default_factory=dict)
    rewrites: dict[int, Rewrite] = field(default_factory=dict)

    @staticmethod
    def from_config(config: dict[str, Any], workload: dict[str, Any]) -> XlaBuild:
        """Apply every XLA pass's share of `config`; unknown decision names raise ValueError."""
        from autotune import passes

        build = XlaBuild(workload)
        chosen = [passes.create(name) for name in XLA_PASSES]
        config = passes.normalize(config, [d for p in chosen for d in p.decisions(workload)])  # may raise
        for p in chosen:
            p.apply(config, build)
        return build

    def rewrite(self, index: int, op: str, shape: tuple[int, ...], **change: Any) -> None:
        """Add a change (`layout=`, `cut=`) to the rewrite of equation `index`."""
        r = self.rewrites.get(index) or Rewrite(index, op, tuple(shape))
        self.rewrites[index] = replace(r, **change)

    def compiler_options(self) -> dict[str, Any]:
        opts = dict(self.options)
        if self.disabled_passes:
            opts["xla_disable_hlo_passes"] = ",".join(sorted(self.disabled_passes))
        return opts

    def jit(self, fn: Any, args: tuple, **jit_kwargs: Any) -> Any:
        """`jax.jit(fn, **jit_kwargs)` with this build's options, layouts and rewrites; raises
        StaleRewrite when a rewrite no longer matches `fn`."""
        import jax

        kwargs: dict[str, Any] = dict(jit_kwargs)
        if self.rewrites:
            if {"static_argnums", "static_argnames"} & set(kwargs):
                raise StaleRewrite("subgraph rewrites apply to functions without static arguments")
            if LAYOUT_PASS in self.disabled_passes and any(r.layout for r in self.rewrites.values()):
                # XLA's algebraic simplifier is what turns a layout constraint into a layout.
                raise ValueError(
                    f"a tensor layout needs the HLO pass {LAYOUT_PASS}, which this config disables"
                )
            fn = rewritten(fn, args, sorted(self.rewrites.values(), key=lambda r: r.index))
        if self.compiler_options():
            kwargs["compiler_options"] = {**kwargs.get("compiler_options", {}), **self.compiler_options()}
        if self.in_layouts:
            leaves, tree = jax.tree_util.tree_flatten(args)
            fmts = [
                _format(self.in_layouts.get(i), len(getattr(x, "shape", ()))) for i, x in enumerate(leaves)
            ]
            kwargs["in_shardings"] = jax.tree_util.tree_unflatten(tree, fmts)
        if self.out_layouts:
            out_tree = jax.eval_shape(fn, *args)
            leaves, tree = jax.tree_util.tree_flatten(out_tree)
            fmts = [_format(self.out_layouts.get(i), len(x.shape)) for i, x in enumerate(leaves)]
            kwargs["out_shardings"] = jax.tree_util.tree_unflatten(tree, fmts)
        return jax.jit(fn, **kwargs)

    def compile(self, fn: Any, args: tuple) -> tuple[Any, Any]:
        """(jitted function, compiled executable) for `args`; raises what XLA raises."""
        jitted = self.jit(fn, args)
        return jitted, jitted.lower(*args).compile()


def _format(choice: str | None, rank: int) -> Any:
    if choice is None:
        return None
    import jax
    from jax.experimental.layout import Format, Layout

    from autotune.passes.xla_layout import major_to_minor

    if choice == "auto":
        return Format(Layout.AUTO)
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return Format(Layout(major_to_minor=major_to_minor(rank, choice)), sharding)
