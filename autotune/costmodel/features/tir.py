"""TVM candidates as graphs: MetaSchedule's per-store features on the scheduled TIR's loop tree.

A candidate is a workload's PrimFunc module scheduled by a stored trace (the default
config ``{}`` is the unscheduled module, which TVM builds as is). Its graph:

- store nodes, one per buffer written with a computed value, in the order MetaSchedule's
  ``PerStoreFeature`` emits them (first store in TIR order; the features are those of
  the buffer's last store): the 164 per-store features;
- loop nodes, one per ``For`` loop (unit serial loops dropped, as ``PerStoreFeature``
  drops them): log2 extent, kind one-hot, nesting depth, log2 auto-unroll step;
- edges, both directions: loop -> child loop and loop -> store (nesting; a store hangs
  off the innermost loop of its buffer's last store), store -> next store (program order).

``x`` rows are ``[store features | loop features | is_loop]``; ``flat`` is the per-store
features summed and max-pooled over the stores (what the XGBoost baseline reads).

Example::

    f = TIRFeaturizer()
    graphs = f.graphs(workload_row, [{}, {"trace": trace_json}])   # default + one trace
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autotune.costmodel.features.base import Featurizer, register

#: Length of MetaSchedule's per-store feature (buffers_per_store=5, 10 curve samples, no
#: workload embedding): 16 arith + 18*5 buffer access + 10 intensity + 4 alloc + 3 outer.
STORE_DIM = 164
LOOP_KINDS = ("serial", "parallel", "vectorized", "unrolled", "thread_binding")
#: log2 extent, kind one-hot, depth, log2 auto-unroll max step.
LOOP_DIM = 1 + len(LOOP_KINDS) + 2
#: Per-store float-op counts (MAD, add/sub, mul, div/mod, cmp, math, other), log2 scaled.
_FLOAT_OPS = slice(0, 7)
_UNROLL_KEY = "pragma_auto_unroll_max_step"


def slog(x: float) -> float:
    """log2(|x| + 1), the scale of MetaSchedule's features."""
    return math.log2(abs(x) + 1.0)


@dataclass
class LoopTree:
    """The loops of a module and where each written buffer's last store sits in them."""

    loops: list[list[float]] = field(default_factory=list)
    kinds: list[int] = field(default_factory=list)
    unroll: list[int] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)  # (parent loop, child loop)
    order: list[int] = field(default_factory=list)  # buffers by first computed store
    owner: dict[int, int] = field(default_factory=dict)  # buffer -> innermost loop (-1: none)


def loop_tree(mod: Any) -> LoopTree:
    """Walk every PrimFunc body of a module in TIR order, as ``PerStoreFeature`` does (which
    first drops a weight-layout rewrite block: the kernel as timed reads packed weights)."""
    import tvm
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    tree = LoopTree()
    for func in mod.functions.values():
        if isinstance(func, tvm.tirx.PrimFunc):
            _walk(func.body, -1, 0, tree)
    return tree


def _walk(stmt: Any, parent: int, depth: int, tree: LoopTree) -> None:
    from tvm import s_tir, tirx

    if isinstance(stmt, tirx.For):
        extent = stmt.extent.value if isinstance(stmt.extent, tirx.IntImm) else None
        if extent == 0:
            return
        start = stmt.min.value if isinstance(stmt.min, tirx.IntImm) else None
        kind = int(stmt.kind)
        if extent == 1 and start == 0 and kind == 0 and len(stmt.annotations) == 0:
            _walk(stmt.body, parent, depth, tree)  # SimplifyForFeatureExtraction drops it
            return
        unroll = stmt.annotations.get(_UNROLL_KEY, None)
        unroll = int(unroll.value if hasattr(unroll, "value") else unroll) if unroll is not None else 0
        row = [slog(extent) if extent is not None else 0.0] + [0.0] * (LOOP_DIM - 1)
        row[1 + min(kind, len(LOOP_KINDS) - 1)] = 1.0
        row[1 + len(LOOP_KINDS)] = float(depth)
        row[2 + len(LOOP_KINDS)] = slog(unroll)
        idx = len(tree.loops)
        tree.loops.append(row)
        tree.kinds.append(kind)
        tree.unroll.append(unroll)
        if parent >= 0:
            tree.edges.append((parent, idx))
        _walk(stmt.body, idx, depth + 1, tree)
    elif isinstance(stmt, tirx.BufferStore):
        if isinstance(stmt.value, (tirx.IntImm, tirx.FloatImm)):
            return  # constant stores (reduction inits) carry no features
        key = hash(stmt.buffer)  # the handle: one per buffer object
        if key not in tree.owner:
            tree.order.append(key)
        tree.owner[key] = parent
    elif isinstance(stmt, tirx.SeqStmt):
        for s in stmt.seq:
            _walk(s, parent, depth, tree)
    elif isinstance(stmt, s_tir.SBlockRealize):
        _walk(stmt.block, parent, depth, tree)
    elif isinstance(stmt, s_tir.SBlock):
        if stmt.init is not None:
            _walk(stmt.init, parent, depth, tree)  # LowerInitBlock puts it first
        _walk(stmt.body, parent, depth, tree)
    elif isinstance(stmt, tirx.IfThenElse):
        _walk(stmt.then_case, parent, depth, tree)
        if stmt.else_case is not None:
            _walk(stmt.else_case, parent, depth, tree)
    else:
        body = getattr(stmt, "body", None)
        if isinstance(body, tirx.Stmt):
            _walk(body, parent, depth, tree)


@register("tir")
class TIRFeaturizer(Featurizer):
    """Graphs of TVM candidates (scheduled TIR) for the cost models.

    Example::

        f = TIRFeaturizer()
        data = f.graphs(workload_row, [{}])[0]       # the default schedule
        data.x.shape == (n_nodes, TIRFeaturizer.NODE_DIM)
    """

    backend = "tvm"
    VOCAB_VERSION = "tir-1"
    NODE_DIM = STORE_DIM + LOOP_DIM + 1
    GRAPH_DIM = 8
    FLAT_DIM = 2 * STORE_DIM

    def __init__(self, target: Any = None, cache_size: int = 64) -> None:
        self._target = target
        self._extractor: Any = None
        self._context: Any = None
        self._mods: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size

    # --- MetaSchedule's extractor -------------------------------------------------
    def _setup(self) -> None:
        if self._extractor is not None:
            return
        from tvm.s_tir.meta_schedule import _ffi_api
        from tvm.s_tir.meta_schedule.feature_extractor import PerStoreFeature
        from tvm.s_tir.meta_schedule.tune_context import TuneContext

        from autotune.backends.tvm.workload import resolve_target

        target = self._target if self._target is not None else resolve_target("llvm")
        if isinstance(target, (str, dict)):
            target = resolve_target(target)
        # PerStoreFeature reads only the context's target and thread count. The Python
        # constructor would import tvm.s_tir.tensor_intrin (seconds) for nothing.
        context = TuneContext.__new__(TuneContext)
        threads = max(1, int(target.export().get("num-cores", 1)))
        context.__init_handle_by_constructor__(
            _ffi_api.TuneContext, None, target, None, None, "main", threads, -1, None
        )
        extractor = PerStoreFeature(extract_workload=False)
        if int(extractor.feature_vector_length) != STORE_DIM:
            raise RuntimeError(
                f"PerStoreFeature gives {extractor.feature_vector_length} floats, not {STORE_DIM}"
            )
        self._context, self._extractor = context, extractor

    def store_features(self, schedules: Sequence[Any], context: Any = None) -> list[np.ndarray]:
        """MetaSchedule's per-store features of schedules (or of MeasureCandidates), read with
        a TuneContext's target and threads (our own llvm one by default)."""
        from tvm.s_tir.meta_schedule.search_strategy import MeasureCandidate

        self._setup()
        cands = [s if isinstance(s, MeasureCandidate) else MeasureCandidate(s, []) for s in schedules]
        if not cands:
            return []
        tensors = self._extractor.extract_from(context if context is not None else self._context, cands)
        return [t.numpy().astype(np.float32) for t in tensors]

    # --- graphs -------------------------------------------------------------------
    def graphs(self, workload: dict[str, Any], configs: Sequence[Any]) -> list[Any]:
        """One Data per config: ``{}`` is the default schedule, ``{"trace": json}`` a trace."""
        import tvm

        try:
            mod = self._workload_module(workload)
        except Exception:
            return [None] * len(configs)
        items: list[tuple[Any, bool] | None] = []
        for config in configs:
            config = getattr(config, "config", config)  # a database record or its config
            try:
                # What measure.apply_trace does, keeping the Schedule (saves building another).
                sch = tvm.s_tir.Schedule(mod)
                if config:
                    tvm.s_tir.schedule.Trace.apply_json_to_schedule(config["trace"], sch)
                items.append((sch, not config))
            except Exception:  # a trace that no longer applies
                items.append(None)
        return self.graphs_of_modules(items)

    def graphs_of_modules(self, items: Sequence[tuple[Any, bool] | None], context: Any = None) -> list[Any]:
        """Graphs of (module or Schedule or MeasureCandidate, is_default) pairs; None in, None out."""
        import tvm

        out: list[Any] = [None] * len(items)
        todo = []
        for i, item in enumerate(items):
            if item is None:
                continue
            obj, is_default = item
            try:
                if isinstance(obj, tvm.IRModule):
                    obj = tvm.s_tir.Schedule(obj)
                todo.append((i, obj, is_default))
            except Exception:
                continue
        if not todo:
            return out
        try:
            feats: list[np.ndarray | None] = list(self.store_features([s for _, s, _ in todo], context))
        except Exception:  # one bad module fails the batch: retry one by one
            feats = [self._one(s, context) for _, s, _ in todo]
        for (i, sch, is_default), f in zip(todo, feats):
            if f is None:
                continue
            try:
                out[i] = self.build(f, loop_tree(getattr(sch, "sch", sch).mod), is_default)
            except Exception:
                out[i] = None
        return out

    def _one(self, sch: Any, context: Any) -> np.ndarray | None:
        """Features of one schedule, None when the extractor fails on it."""
        try:
            return self.store_features([sch], context)[0]
        except Exception:
            return None

    def build(self, stores: np.ndarray, tree: LoopTree, is_default: bool) -> Any:
        """Assemble the Data of one candidate from its store features and loop tree."""
        import torch
        from torch_geometric.data import Data

        stores = np.nan_to_num(np.asarray(stores, dtype=np.float32).reshape(-1, STORE_DIM))
        n_s, n_l = stores.shape[0], len(tree.loops)
        x = np.zeros((n_s + n_l, self.NODE_DIM), dtype=np.float32)
        x[:n_s, :STORE_DIM] = stores
        if n_l:
            x[n_s:, STORE_DIM : STORE_DIM + LOOP_DIM] = np.asarray(tree.loops, dtype=np.float32)
            x[n_s:, -1] = 1.0
        src: list[int] = []
        dst: list[int] = []
        for parent, child in tree.edges:
            src.append(n_s + parent)
            dst.append(n_s + child)
        if len(tree.order) == n_s:  # the walk saw the stores the extractor saw
            for s, key in enumerate(tree.order):
                if tree.owner[key] >= 0:
                    src.append(n_s + tree.owner[key])
                    dst.append(s)
        for s in range(n_s - 1):
            src.append(s)
            dst.append(s + 1)
        edge_index = np.array([src + dst, dst + src], dtype=np.int64).reshape(2, -1)
        if n_s:
            flat = np.concatenate([stores.sum(axis=0), stores.max(axis=0)])
            flops = float(np.sum(np.exp2(stores[:, _FLOAT_OPS]) - 1.0))
        else:
            flat = np.zeros(self.FLAT_DIM, dtype=np.float32)
            flops = 0.0
        kinds = tree.kinds
        g = [
            slog(n_s),
            slog(n_l),
            slog(flops),
            1.0 if is_default else 0.0,
            slog(kinds.count(1)),
            slog(kinds.count(2)),
            slog(kinds.count(3)),
            slog(max(tree.unroll, default=0)),
        ]
        return Data(
            x=torch.from_numpy(x),
            edge_index=torch.from_numpy(edge_index),
            g=torch.tensor([g], dtype=torch.float32),
            flat=torch.from_numpy(flat.astype(np.float32).reshape(1, -1)),
        )

    def _workload_module(self, workload: dict[str, Any]) -> Any:
        import tvm

        text = workload["ir"]
        key = str(workload.get("fingerprint") or hashlib.sha256(text.encode()).hexdigest())
        mod = self._mods.get(key)
        if mod is None:
            mod = tvm.ir.load_json(text)
            self._mods[key] = mod
            while len(self._mods) > self._cache_size:
                self._mods.popitem(last=False)
        else:
            self._mods.move_to_end(key)
        return mod
