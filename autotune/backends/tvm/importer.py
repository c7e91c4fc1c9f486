"""PyTorch -> Relax import, MetaSchedule's fusion preparation, TVM's default build and a VM runner.

Usage::

    from autotune import zoo
    from autotune.backends.tvm import importer

    m = zoo.create("mlp")
    mod = importer.to_relax(m.module, m.example_inputs)       # weights bound as constants
    fused = importer.fuse(mod, target)                        # input of extract_tasks
    ex = importer.build_tuned(mod, target, database)          # the database's schedules applied
    ex = importer.build_default(mod, target)
    outs = importer.run(ex, [x.numpy() for x in m.example_inputs])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    import tvm

    from autotune.backends.tvm.graph import GraphBuild

__all__ = ["build_default", "build_tuned", "fuse", "fuse_passes", "run", "to_relax"]


def to_relax(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> tvm.IRModule:
    """Export ``model`` with ``torch.export`` and import it into Relax.

    The weights are bound into ``main`` as constants, so ``main`` takes exactly the
    example inputs. The result is neither legalized nor fused.
    """
    import torch
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    inputs = tuple(example_inputs)
    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        # torch 2.13's export warns about its own deprecated LeafSpec use: not ours to fix.
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        ep = torch.export.export(model, inputs)
        mod = from_exported_program(ep, keep_params_as_input=True, unwrap_unit_return_tuple=True)
    mod, params = relax.frontend.detach_params(mod)
    main = mod["main"]
    num_input = int(main.attrs["num_input"])
    weights = list(params.get("main", []))
    weight_vars = list(main.params[num_input:])
    if len(weights) != len(weight_vars):
        raise RuntimeError(f"relax import: {len(weight_vars)} weight parameters but {len(weights)} weights")
    if weight_vars:
        mod = relax.transform.BindParams("main", dict(zip(weight_vars, weights)))(mod)
    if len(mod["main"].params) != len(inputs):
        raise RuntimeError(
            f"relax import: main takes {len(mod['main'].params)} inputs, "
            f"expected {len(inputs)} example inputs"
        )
    return mod


def fuse_passes(
    target: tvm.target.Target, stock: bool = False, graph: GraphBuild | None = None
) -> list[tvm.transform.Pass]:
    """The passes that make a model's subgraphs: both what is tuned and what is looked up.

    ``DecomposeOpsForInference`` first, as TVM's own tuning pipeline
    (``static_shape_tuning_pipeline``) does: a batch norm becomes element-wise arithmetic on
    constants, which FuseOps then fuses into the convolution before it as an epilogue
    (ResNet-18: 19 subgraphs instead of 27, no batch-norm kernel reading each conv's output
    again). Then those of ``tvm.s_tir.meta_schedule.relax_integration.compile_relax`` (TVM
    0.27: library dispatch, LegalizeOps, AnnotateTIROpPattern, FoldConstant, FuseOps,
    FuseTIR), then
    ``AttachAttrLayoutFreeBuffers``: each PrimFunc learns which of its inputs are weights
    (constants), so that MetaSchedule's ``RewriteLayout`` postprocessor may give them the
    layout its schedule reads best (packed once, when the model is built; see
    :func:`build_tuned`). `stock=True` leaves both additions out: the subgraphs of
    ``compile_relax``, as stock MetaSchedule tunes and looks them up. `graph`: a graph-level
    config's rewrites (autotune/backends/tvm/graph.py), its layout and operator forms before
    legalization, the ops it keeps apart once their patterns are annotated.
    """
    from tvm import relax
    from tvm.relax import pipeline as relax_pipeline

    from autotune.backends.tvm.graph import after_annotate, before_legalize

    try:
        dispatch = list(relax_pipeline.library_dispatch_passes(target))
    except (ValueError, AttributeError):
        dispatch = []
    decompose = [relax.transform.DecomposeOpsForInference(), relax.transform.CanonicalizeBindings()]
    return [
        *([] if stock else decompose),
        *(before_legalize(graph) if graph else []),
        *dispatch,
        relax.transform.LegalizeOps(enable_warning=False),
        relax.transform.AnnotateTIROpPattern(),
        *(after_annotate(graph) if graph else []),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
        *([] if stock else [relax.transform.AttachAttrLayoutFreeBuffers()]),
    ]


def fuse(
    mod: tvm.IRModule,
    target: tvm.target.Target | str | dict,
    stock: bool = False,
    graph: GraphBuild | None = None,
) -> tvm.IRModule:
    """Legalize and fuse ``mod`` (:func:`fuse_passes`): the PrimFuncs ``extract_tasks``
    finds here are the ones :func:`build_tuned` looks up in a database (with the same
    `graph` config)."""
    import tvm

    target = _as_target(target)
    with target, tvm.transform.PassContext(opt_level=3):
        return tvm.transform.Sequential(fuse_passes(target, stock, graph))(mod)


def build_tuned(
    mod: tvm.IRModule,
    target: tvm.target.Target | str | dict,
    database: Any,
    graph: GraphBuild | None = None,
) -> tvm.runtime.Executable:
    """Build ``mod`` with the schedules of a MetaSchedule ``database`` applied.

    :func:`fuse`, then ``MetaScheduleApplyDatabase``; a tuned kernel that reads a weight in
    a layout of its own has its packing split out (``SplitLayoutRewritePreproc``) and, the
    weights being constants, evaluated here, at build time, by ``FoldConstant``: the
    packed weights are computed once, never per call. Then Relax's lowering and
    finalization passes, as ``compile_relax`` runs them. `graph`: the graph-level config
    the model's subgraphs were tuned under (:func:`fuse_passes`).
    """
    import tvm
    from tvm import relax

    target = _as_target(target)

    @tvm.transform.module_pass(opt_level=3)
    def pipeline(mod: tvm.IRModule, _ctx: Any) -> tvm.IRModule:
        passes = [
            *fuse_passes(target, graph=graph),
            relax.transform.MetaScheduleApplyDatabase(enable_warning=False),
            relax.transform.SplitLayoutRewritePreproc(),
            relax.transform.FoldConstant(),
            relax.transform.DeadCodeElimination(),
            *_lowering_passes(target),
        ]
        return tvm.transform.Sequential(passes)(mod)

    with target, database, tvm.transform.PassContext(opt_level=3):
        return tvm.compile(mod, target=target, relax_pipeline=pipeline)


def _lowering_passes(target: tvm.target.Target) -> list[tvm.transform.Pass]:
    """Relax's dataflow lowering and finalization for `target`; for a target the pipeline
    dispatcher has none registered (plain llvm CPUs in TVM 0.27), the list compile_relax
    falls back to."""
    from tvm import relax
    from tvm.relax import pipeline as relax_pipeline

    try:
        return [*relax_pipeline.dataflow_lower_passes(target), *relax_pipeline.finalize_passes(target)]
    except (ValueError, AttributeError):
        return [
            relax.transform.RewriteDataflowReshape(),
            relax.transform.ToNonDataflow(),
            relax.transform.RemovePurityChecking(),
            relax.transform.CallTIRRewrite(),
            relax.transform.StaticPlanBlockMemory(),
            relax.transform.LowerAllocTensor(),
            relax.transform.KillAfterLastUse(),
            relax.transform.LowerRuntimeBuiltin(),
            relax.transform.ComputePrimValue(),
            relax.transform.VMShapeLower(),
            relax.transform.AttachGlobalSymbol(),
        ]


def build_default(
    mod: tvm.IRModule, target: tvm.target.Target | str | dict, *, fused: bool = False
) -> tvm.runtime.Executable:
    """Build ``mod`` with no tuning.

    ``fused=False`` is ``tvm.compile(mod, target)`` (TVM's default pipeline, which on a
    CPU legalizes but does not fuse); ``fused=True`` uses the target's default pipeline
    (``relax.get_default_pipeline``: the same fusion as :func:`fuse`, untuned TIR).
    """
    import tvm
    from tvm import relax

    target = _as_target(target)
    if fused:
        return tvm.compile(mod, target, relax_pipeline=relax.get_default_pipeline(target))
    return tvm.compile(mod, target)


def run(
    executable: Any, inputs: Sequence[np.ndarray], func: str = "main", dev: Any = None
) -> list[np.ndarray]:
    """Run ``func`` of a built executable on ``tvm.cpu()`` (or on ``dev``, a remote device the
    executable was loaded on); return its outputs as numpy."""
    import tvm
    from tvm import relax

    dev = tvm.cpu() if dev is None else dev
    vm = relax.VirtualMachine(executable, dev)
    args = [tvm.runtime.tensor(np.ascontiguousarray(x), dev) for x in inputs]
    return _flatten(vm[func](*args))


def _flatten(value: Any) -> list[np.ndarray]:
    """Flatten a (nested) VM result of tensors/arrays/tuples into numpy arrays."""
    if hasattr(value, "numpy"):
        return [value.numpy()]
    if isinstance(value, (list, tuple)) or hasattr(value, "__len__"):
        out: list[np.ndarray] = []
        for item in value:
            out.extend(_flatten(item))
        return out
    raise TypeError(f"unexpected VM output of type {type(value).__name__}")


def _as_target(target: tvm.target.Target | str | dict) -> tvm.target.Target:
    from tvm.target import Target

    return target if isinstance(target, Target) else Target(target)
