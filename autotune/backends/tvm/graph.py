"""TVM's graph level: what a Relax model offers to decide before it is fused, and the Relax
passes that apply a graph-level config (the decisions of autotune/passes/tvm_*.py).

`graph_info` reads the model's unfused Relax `main` into plain data (its convolutions, the
ops that may be kept out of fusion, whether it has a GELU): what the passes turn into
decisions. A config is applied to a `GraphBuild`, and `before_legalize` / `after_annotate`
are the passes `importer.fuse_passes` runs for it:

- layout: ``relax.transform.ConvertLayout`` with a callback that gives each conv2d the
  layout its decision chose (NHWC data with OHWI weights, or the model's NCHW); the weights
  being constants, their transposes fold at build time;
- codegen: GELU in its erf form, in the tanh approximation (``R.nn.gelu_tanh``) or with
  TOPI's ``fast_erf``, and softmax exact or TOPI's ``fast_softmax``: numerics-relaxing
  rewrites that the output check must pass;
- fusion: an op kept apart is marked opaque (``op_pattern`` 8) after
  ``AnnotateTIROpPattern``, so FuseOps gives it a kernel of its own.

Example::

    info = graph_info(mod)                      # {"convs": [...], "ops": [...], "gelu": 2}
    build = GraphBuild(conv_layout="NHWC")
    fused = importer.fuse(mod, target, graph=build)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: Ops worth keeping out of a fused kernel: transcendental or reducing epilogues that make
#: the kernel they join hard to schedule.
APART_OPS = ("gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "softmax", "layer_norm")
#: Fingerprints of graph workloads: a whole Relax model before fusion, weights included;
#: their compiler name in the database, apart from the subgraphs ("tvm"), whose IR is TIR.
GRAPH_PREFIX = "tvm:graph1:"
GRAPH_COMPILER = "tvm-graph"
#: The opaque op pattern (tvm/relax/op_attr_types.h): FuseOps fuses nothing into or with it.
OPAQUE = 8


@dataclass
class GraphBuild:
    """What a graph-level config asks of the Relax pipeline, before and during fusion."""

    conv_layout: str = "NCHW"  # every conv2d's data layout, unless `conv_layouts` names it
    conv_layouts: dict[str, str] = field(default_factory=dict)  # conv key -> layout
    gelu: str = "erf"  # or "tanh", "fast-erf"
    softmax: str = "exact"  # or "fast"
    apart: set[str] = field(default_factory=set)  # op keys kept out of fusion

    def layout_of(self, key: str) -> str:
        return self.conv_layouts.get(key) or self.conv_layout

    @property
    def relayout(self) -> bool:
        return self.conv_layout != "NCHW" or any(v != "NCHW" for v in self.conv_layouts.values())


def graph_fingerprint(mod: Any) -> str:
    """The identity of a model's graph workload: the structural hash of its unfused module."""
    from autotune.backends.tvm.workload import fingerprint

    return GRAPH_PREFIX + fingerprint(mod).rsplit(":", 1)[-1]


def _dims(ty: Any) -> list[int] | None:
    shape = getattr(ty, "shape", None)
    values = getattr(shape, "values", None)
    if values is None:
        return None
    dims = [getattr(v, "value", v) for v in values]
    return dims if all(isinstance(d, int) for d in dims) else None


def _shape_text(dims: list[int]) -> str:
    return "x".join(map(str, dims))


def _short(op_name: str) -> str:
    """'relax.nn.gelu' -> 'gelu'."""
    return op_name.rsplit(".", 1)[-1]


def _family(name: str) -> str:
    """An op's key family: GELU in either form is one op to keep apart."""
    return "gelu" if name == "gelu_tanh" else name


def conv_key(call: Any) -> str | None:
    """A conv2d's identity in decisions: data and weight shapes, strides, groups (convs that
    share it are one decision, as they would be one kernel)."""
    data, weight = (_dims(a.ty) for a in call.args[:2])
    if data is None or weight is None:
        return None
    strides = "x".join(str(int(s)) for s in call.attrs.strides)
    return f"{_shape_text(data)}:{_shape_text(weight)}:s{strides}:g{int(call.attrs.groups)}"


def op_key(name: str, out_dims: list[int]) -> str:
    """An op's identity in fusion decisions: its family and output shape, e.g. 'gelu:1x32x128'."""
    return f"{_family(name)}:{_shape_text(out_dims)}"


def _calls(mod: Any) -> Iterator[tuple[Any, Any]]:
    """(bound var, call) of every operator call in `main`, in program order."""
    import tvm
    from tvm import relax

    body = mod["main"].body
    for block in getattr(body, "blocks", []):
        for binding in block.bindings:
            value = getattr(binding, "value", None)
            if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op):
                yield binding.var, value


def graph_info(mod: Any) -> dict[str, Any]:
    """The graph-level facts of an unfused Relax model the passes decide on, as JSON data.

    convs: one entry per conv2d key in the model's NCHW layout (count, multiply-adds of
    one); ops: the ops of `APART_OPS` by key (count, output elements); gelu, softmax: how
    many GELUs and softmaxes.
    """
    convs: dict[str, dict[str, Any]] = {}
    ops: dict[str, dict[str, Any]] = {}
    gelu = softmax = 0
    for var, call in _calls(mod):
        name = _short(call.op.name)
        if name == "conv2d" and str(call.attrs.data_layout) == "NCHW":
            key = conv_key(call)
            out = _dims(var.ty)
            weight = _dims(call.args[1].ty)
            if key is None or out is None or weight is None:
                continue
            macs = math.prod(out) * math.prod(weight[1:])
            convs.setdefault(key, {"key": key, "count": 0, "macs": macs})["count"] += 1
        gelu += name == "gelu"
        softmax += name == "softmax"
        if name in APART_OPS:
            out = _dims(var.ty)
            if out is None:
                continue
            key = op_key(name, out)
            ops.setdefault(key, {"key": key, "count": 0, "elements": math.prod(out)})["count"] += 1
    return {"convs": list(convs.values()), "ops": list(ops.values()), "gelu": gelu, "softmax": softmax}


def before_legalize(build: GraphBuild) -> list[Any]:
    """The Relax passes of `build` that run on the model's operators (layout, GELU form)."""
    import tvm
    from tvm import relax

    out = []
    if build.gelu == "tanh":
        out.append(_gelu_tanh_pass())
    if build.gelu == "fast-erf" or build.softmax == "fast":
        out.append(_fast_math_pass(build.gelu == "fast-erf", build.softmax == "fast"))
    if build.relayout:

        def callback(call: Any) -> dict[str, list[str]]:
            if not isinstance(call.op, tvm.ir.Op) or _short(call.op.name) != "conv2d":
                return {}
            key = conv_key(call)
            if key is None or build.layout_of(key) != "NHWC":
                return {}
            return {"relax.nn.conv2d": ["NHWC", "OHWI"]}

        out.append(relax.transform.ConvertLayout({}, callback))
    return out


def after_annotate(build: GraphBuild) -> list[Any]:
    """The Relax passes of `build` that run on the legalized PrimFuncs (fusion apart)."""
    return [_apart_pass(set(build.apart))] if build.apart else []


def _gelu_tanh_pass() -> Any:
    import tvm
    from tvm import relax
    from tvm.relax.dpl import is_op, rewrite_call, wildcard

    x = wildcard()
    pattern = is_op("relax.nn.gelu")(x)

    @tvm.transform.module_pass(opt_level=0, name="GeluTanh")
    def rewrite(mod: Any, _ctx: Any) -> Any:
        main = rewrite_call(pattern, lambda _expr, m: relax.op.nn.gelu_tanh(m[x]), mod["main"])
        mod = mod.clone()
        mod["main"] = main
        return mod

    return rewrite


def _fast_gelu(x: Any) -> Any:
    """GELU's erf form with TOPI's fast_erf: x * 0.5 * (1 + fast_erf(x / sqrt(2)))."""
    from tvm import topi

    inner = topi.fast_erf(topi.multiply(x, 1.0 / math.sqrt(2.0)))
    return topi.multiply(topi.multiply(x, 0.5), topi.add(inner, 1.0))


def _fast_math_pass(gelu: bool, softmax: bool) -> Any:
    """GELU with fast_erf and/or softmax as TOPI's fast_softmax, as TE functions the
    legalizer leaves alone and FuseOps fuses like any elementwise or reducing op."""
    import tvm
    from tvm import topi
    from tvm.relax import PyExprMutator, expr_functor

    @expr_functor.mutator
    class FastMath(PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            name = call.op.name if isinstance(call.op, tvm.ir.Op) else ""
            if gelu and name == "relax.nn.gelu":
                return self.builder_.call_te(_fast_gelu, call.args[0], primfunc_name_hint="fast_gelu")
            if softmax and name == "relax.nn.softmax":
                return self.builder_.call_te(
                    topi.nn.fast_softmax,
                    call.args[0],
                    int(call.attrs.axis),
                    primfunc_name_hint="fast_softmax",
                )
            return super().visit_call_(call)

    @tvm.transform.module_pass(opt_level=0, name="FastMath")
    def rewrite(mod: Any, _ctx: Any) -> Any:
        mutator = FastMath(mod)
        for gv, func in mod.functions_items():
            if isinstance(func, tvm.relax.Function):
                mutator.builder_.update_func(gv, mutator.visit_expr(func))
        return mutator.builder_.get()

    return rewrite


_SUFFIX = re.compile(r"_?\d+$")


def _apart_pass(keys: set[str]) -> Any:
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="KeepApart")
    def mark(mod: Any, _ctx: Any) -> Any:
        marked = {}
        for var, call in _calls(mod):
            if call.op.name != "relax.call_tir":
                continue
            gv, out = call.args[0], _dims(var.ty)
            if out is not None and gv not in marked and op_key(_SUFFIX.sub("", gv.name_hint), out) in keys:
                marked[gv] = mod[gv].with_attr("op_pattern", OPAQUE)
        if marked:
            mod = mod.clone()
            for gv, func in marked.items():
                mod[gv] = func
        return mod

    return mark


#: The passes whose decisions a TVM graph-level config holds, in the order they apply.
TVM_PASSES = ("tvm-layout", "tvm-fusion", "tvm-codegen")


def decisions(info: dict[str, Any]) -> list[Any]:
    """Every graph-level decision the TVM passes offer for a model's `graph_info`."""
    from autotune import passes

    return [d for name in TVM_PASSES for d in passes.create(name).decisions(info)]


def build_of(config: dict[str, Any]) -> GraphBuild:
    """The `GraphBuild` of a graph-level config (already checked with `passes.normalize`)."""
    from autotune import passes

    build = GraphBuild()
    for name in TVM_PASSES:
        passes.create(name).apply(config, build)
    return build
