"""The `hlo` featurizer: an XLA candidate (HLO module + config) as a PyG graph.

Graph: one node per instruction of every computation of the workload's HLO (the ``ir``
column, before optimization; ``hlo="optimized"`` reads ``meta["optimized_hlo"]``), edges
operand -> user and from a calling instruction to the ROOT and parameters of what it calls
(see `hlo_parse`). The module is parsed once per workload and cached.

Node features (`NODE_DIM`): opcode one-hot over XLA's opcodes + 'other'; element type
one-hot (f32, bf16, f16, s32, pred, other); rank; log2 element count; log2 of the last 4
dims (left-padded with 0); row-major-layout flag; tuple flag; in-called-computation flag;
log2(1 + operands); is-parameter; is-root; fusion kind (loop, input, output, custom).
Then the node-level config: `layout:in:i` one-hot (default, transposed, auto) on the entry
parameter of flat argument i, `layout:out:i` on the entry ROOT (on operand i when the ROOT
is a tuple). "default" is set where a layout decision exists at its default, so the model
sees which arrays were tunable. Last, `NODE_CONFIG`: the config attached to the nodes it acts
on, by op class (`CLASSES`: dot, conv, reduce, eltwise, move): "claimed" by oneDNN / XNNPACK /
YNNPACK when the library's fusion types take the node's class, XNNPACK on dots and convs, vector
width, SLP, fast math, fusion emitters and multi-output fusion on the loop classes, and the
number of disabled passes that rewrite the node's class (`_PASS_CLASSES`).

Graph features `g` (`GRAPH_DIM`): the global decisions. Each option of `OPTIONS` (the
tunable options of `xla_options.RULES`, a fixed list) has its own slots (set flag, then
value, one-hot or multi-hot), each pass of `PASSES` a disable flag; any other decision,
an unknown value, or a layout whose array is not found adds 1 to one of `HASH_BUCKETS`
buckets by a stable hash of "name=value". Then counts of transposed / auto layouts (in,
out), log(1 + non-default decisions), and log(1 + x) of cost-analysis flops, bytes
accessed and transcendentals (with a present flag). `g` is NOT broadcast onto the nodes:
the model combines it (the GNN concatenates it to the pooled readout).

`flat` (`FLAT_DIM`, for XGBoost): log(1 + per-opcode counts), mean and max of the
non-opcode node features, log2-elements summed per layout choice (in, out),
log(1 + nodes, edges, computations), then `g`.

`workload_key` (an int, the same for every candidate of one workload's HLO and meta) lets a
listwise model tell the workloads of a batch apart (the GNN's `center`).

In "hlo-2": NODE_DIM 176 (136 opcodes + other), GRAPH_DIM 114, FLAT_DIM 338 ("hlo-1" had no
node-level config). Featurizing costs ~0.1-0.3 ms per candidate once the workload is parsed
(2-15 ms, cached per workload).

Example::

    f = HLOFeaturizer()
    default, transposed = f.graphs(row, [{}, {"layout:in:1": "transposed"}])
    default.x.shape            # (num instructions, NODE_DIM)
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from autotune.costmodel.features.base import Featurizer, register
from autotune.costmodel.features.hlo_parse import OPCODES, HloModule, Instr, instruction_graph, parse
from autotune.passes.xla_layout import XlaLayoutPass

VOCAB_VERSION = "hlo-2"
DTYPES = ("f32", "bf16", "f16", "s32", "pred")
FUSION_KINDS = ("kLoop", "kInput", "kOutput", "kCustom")
LAYOUTS = (None, "transposed", "auto")


def _enum(prefix: str, *names: str) -> tuple[str, ...]:
    return tuple(prefix + n for n in names)


_LIB = _enum("LIBRARY_FUSION_TYPE_", "DOT", "ELTWISE", "INDIVIDUAL_CONVOLUTION", "INDIVIDUAL_DOT", "REDUCE")

#: opt:<name> decisions with slots of their own: (option, encoding, values). Encodings:
#: 'bool' [set, value]; 'level' [set, value / 3]; 'log2' [set, log2(value) - 7];
#: 'enum' [set, one-hot..., other]; 'set' (comma list) [set, multi-hot..., empty, other].
#: The list is `xla_options.RULES`' options as jaxlib 0.10 offers them; an option a newer
#: jaxlib adds goes to the hash buckets until the vocabulary version is bumped.
OPTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("xla_backend_optimization_level", "level", ()),
    ("xla_cpu_prefer_vector_width", "log2", ()),
    ("xla_cpu_enable_concurrency_optimized_scheduler", "bool", ()),
    ("xla_cpu_enable_fast_math", "bool", ()),
    ("xla_cpu_enable_fast_min_max", "bool", ()),
    ("xla_cpu_disable_slp_vectorizer", "bool", ()),
    ("xla_cpu_use_fusion_emitters", "bool", ()),
    ("xla_cpu_use_xnnpack", "bool", ()),
    ("xla_cpu_use_multi_output_fusion", "bool", ()),
    ("xla_cpu_experimental_onednn_fusion_type", "set", _LIB),
    ("xla_cpu_experimental_xnn_fusion_type", "set", _LIB),
    ("xla_cpu_experimental_ynn_fusion_type", "set", _LIB),
    (
        "xla_cpu_experimental_xnn_graph_fusion_mode",
        "enum",
        _enum("XNN_GRAPH_FUSION_MODE_", "BYPASS_COST_MODEL", "DISABLED", "GREEDY", "GREEDY_SLINKY"),
    ),
    ("xla_cpu_opt_preset", "enum", _enum("CPU_OPT_PRESET_", "DEFAULT", "FAST_COMPILE", "FAST_RUNTIME")),
    (
        "xla_cpu_scheduler_type",
        "enum",
        _enum("CPU_SCHEDULER_TYPE_", "CONCURRENCY_OPTIMIZED", "DEFAULT", "MEMORY_OPTIMIZED"),
    ),
)
#: disable:<pass> decisions with a flag of their own (passes seen changing the zoo's workloads).
PASSES: tuple[str, ...] = (
    "algsimp", "batch-dot-simplification", "call-inliner", "cpu-parallel-task-assigner", "cse", "dce",
    "dot-library-rewriter", "dot_decomposer", "dynamic-dimension-simplifier", "fusion", "fusion-wrapper",
    "gemv-rewriter", "reshape-decomposer", "reshape-mover", "simplification",
)  # fmt: skip
HASH_BUCKETS = 32
COST_KEYS = ("flops", "bytes accessed", "transcendentals")


def _option_width(encoding: str, values: tuple[str, ...]) -> int:
    return {"bool": 2, "level": 2, "log2": 2, "enum": len(values) + 2, "set": len(values) + 3}[encoding]


# Node feature columns.
_OP = {op: i for i, op in enumerate(OPCODES)}
N_OP = len(OPCODES) + 1
_DT = N_OP
_RANK = _DT + len(DTYPES) + 1
_ELEMS, _DIMS = _RANK + 1, _RANK + 2
_LAYOUT_DEFAULT, _TUPLE, _CALLED, _NOPS, _PARAM, _ROOT = range(_DIMS + 4, _DIMS + 10)
_FUSION = _DIMS + 10
_LAYOUT_IN = _FUSION + len(FUSION_KINDS)
_LAYOUT_OUT = _LAYOUT_IN + 3

# Graph feature columns.
_OPT_AT: dict[str, tuple[int, str, tuple[str, ...]]] = {}
_at = 0
for _name, _enc, _values in OPTIONS:
    _OPT_AT[_name] = (_at, _enc, _values)
    _at += _option_width(_enc, _values)
_PASS_AT = {p: _at + i for i, p in enumerate(PASSES)}
_HASH = _at + len(PASSES)
_LAYOUT_COUNTS = _HASH + HASH_BUCKETS  # in:transposed, in:auto, out:transposed, out:auto
_N_SET = _LAYOUT_COUNTS + 4
_COST = _N_SET + 1  # present, then COST_KEYS
GRAPH_DIM = _COST + 1 + len(COST_KEYS)

#: Op classes that decisions act on, by opcode (anything else: none of them).
CLASSES: dict[str, frozenset[str]] = {
    "dot": frozenset({"dot", "ragged-dot", "scaled-dot"}),
    "conv": frozenset({"convolution"}),
    "reduce": frozenset({"reduce", "reduce-window"}),
    "eltwise": frozenset({
        "abs", "add", "and", "atan2", "cbrt", "ceil", "clamp", "compare", "convert", "cosine",
        "divide", "erf", "exponential", "exponential-minus-one", "floor", "is-finite", "log",
        "log-plus-one", "logistic", "maximum", "minimum", "multiply", "negate", "not", "or",
        "power", "remainder", "round-nearest-afz", "round-nearest-even", "rsqrt", "select",
        "sign", "sine", "sqrt", "subtract", "tan", "tanh", "xor",
    }),
    "move": frozenset({
        "bitcast", "broadcast", "concatenate", "copy", "dynamic-slice", "dynamic-update-slice",
        "gather", "iota", "pad", "reshape", "reverse", "slice", "transpose",
    }),
}  # fmt: skip
_CLASS_NAMES = tuple(CLASSES)
_CLASS_AT = {c: i for i, c in enumerate(_CLASS_NAMES)}
_LOOPS = ("eltwise", "reduce", "move")  # what XLA's own loop emitters generate
#: Library fusion kinds -> the op classes they take.
_LIB_CLASSES = {
    "LIBRARY_FUSION_TYPE_DOT": ("dot",),
    "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT": ("dot",),
    "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION": ("conv",),
    "LIBRARY_FUSION_TYPE_ELTWISE": ("eltwise",),
    "LIBRARY_FUSION_TYPE_REDUCE": ("reduce",),
}
#: Disabled passes -> the op classes whose code they change.
_PASS_CLASSES = {
    "dot-library-rewriter": ("dot", "conv"), "gemv-rewriter": ("dot",), "dot_decomposer": ("dot",),
    "batch-dot-simplification": ("dot",), "fusion": _LOOPS, "fusion-wrapper": _LOOPS,
    "reshape-mover": ("move",), "reshape-decomposer": ("move",),
}  # fmt: skip
#: Node-level config columns, after the layout one-hots: a decision's value on the nodes of
#: the op classes it acts on (0 elsewhere and when unset; bools as +1 / -1).
NODE_CONFIG = (
    "claimed:onednn", "claimed:xnn", "claimed:ynn",  # the node's class is in the library's fusion types
    "xnnpack", "vector_width", "slp_off", "fast_math", "fast_min_max", "fusion_emitters",
    "multi_output_fusion", "passes_off",
)  # fmt: skip
_NODE_CFG = _LAYOUT_OUT + 3
NODE_DIM = _NODE_CFG + len(NODE_CONFIG)
_CFG = {name: i for i, name in enumerate(NODE_CONFIG)}
_LIBS = {
    "xla_cpu_experimental_onednn_fusion_type": "claimed:onednn",
    "xla_cpu_experimental_xnn_fusion_type": "claimed:xnn",
    "xla_cpu_experimental_ynn_fusion_type": "claimed:ynn",
}
#: bool options -> (column, op classes).
_NODE_BOOLS = {
    "xla_cpu_use_xnnpack": ("xnnpack", ("dot", "conv")),
    "xla_cpu_disable_slp_vectorizer": ("slp_off", _LOOPS),
    "xla_cpu_enable_fast_math": ("fast_math", ("eltwise", "reduce")),
    "xla_cpu_enable_fast_min_max": ("fast_min_max", ("eltwise", "reduce")),
    "xla_cpu_use_fusion_emitters": ("fusion_emitters", _LOOPS),
    "xla_cpu_use_multi_output_fusion": ("multi_output_fusion", _LOOPS),
}


def node_config(config: dict[str, Any]) -> np.ndarray:
    """[op class, NODE_CONFIG] values of a config: what each decision does to each class."""
    v = np.zeros((len(_CLASS_NAMES), len(NODE_CONFIG)), np.float32)
    for name, value in config.items():
        if value is None:
            continue
        kind, _, rest = name.partition(":")
        if kind == "opt" and rest in _LIBS:
            for part in str(value).split(","):
                for c in _LIB_CLASSES.get(part.strip(), ()):
                    v[_CLASS_AT[c], _CFG[_LIBS[rest]]] = 1.0
        elif kind == "opt" and rest in _NODE_BOOLS and isinstance(value, bool):
            column, classes = _NODE_BOOLS[rest]
            for c in classes:
                v[_CLASS_AT[c], _CFG[column]] = 1.0 if value else -1.0
        elif kind == "opt" and rest == "xla_cpu_prefer_vector_width" and isinstance(value, (int, float)):
            for c in _LOOPS:
                v[_CLASS_AT[c], _CFG["vector_width"]] = math.log2(max(float(value), 1.0)) - 7.0
        elif kind == "disable" and value:
            for c in _PASS_CLASSES.get(rest, ()):
                v[_CLASS_AT[c], _CFG["passes_off"]] += 1.0
    return v


_N_OTHER = NODE_DIM - N_OP
FLAT_DIM = N_OP + 2 * _N_OTHER + 6 + 3 + GRAPH_DIM


def _bucket(key: str) -> int:
    return zlib.crc32(key.encode()) % HASH_BUCKETS


def _log2(x: float) -> float:
    return math.log2(x) if x > 1 else 0.0


def node_row(ins: Instr, in_entry: bool) -> np.ndarray:
    """The config-independent features of one instruction."""
    v = np.zeros(NODE_DIM, np.float32)
    v[_OP.get(ins.opcode, N_OP - 1)] = 1.0
    v[_DT + (DTYPES.index(ins.dtype) if ins.dtype in DTYPES else len(DTYPES))] = 1.0
    v[_RANK] = len(ins.dims)
    v[_ELEMS] = _log2(ins.elements)
    last = ins.dims[-4:]
    for k, d in enumerate(last):
        v[_DIMS + 4 - len(last) + k] = _log2(d)
    v[_LAYOUT_DEFAULT] = float(ins.default_layout)
    v[_TUPLE] = float(ins.dtype == "tuple")
    v[_CALLED] = float(not in_entry)
    v[_NOPS] = math.log2(1 + len(ins.operands))
    v[_PARAM] = float(ins.opcode == "parameter")
    v[_ROOT] = float(ins.is_root)
    if ins.fusion_kind in FUSION_KINDS:
        v[_FUSION + FUSION_KINDS.index(ins.fusion_kind)] = 1.0
    return v


class _Workload:
    """What the featurizer keeps per workload: base node features, edges, layout targets, and
    `key` (the `workload_key` of its graphs: the featurizer's cache key as an int)."""

    def __init__(self, module: HloModule, meta: dict[str, Any], key: int = 0) -> None:
        import torch

        entry = module.entry
        entry_key = entry.key if entry is not None else ""
        nodes, edges = instruction_graph(module)
        self.num_nodes = len(nodes)
        self.key = key
        self.x = np.stack([node_row(n, n.computation == entry_key) for n in nodes]) if nodes else None
        self.edge_index = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).t().contiguous()
        self.log2_elems = np.array([_log2(n.elements) for n in nodes], np.float32)
        self.classes = np.array(  # [node, op class] one-hot
            [[n.opcode in CLASSES[c] for c in _CLASS_NAMES] for n in nodes], np.float32
        ).reshape(len(nodes), len(_CLASS_NAMES))
        index = {(n.computation, n.name): i for i, n in enumerate(nodes)}
        params = sorted(
            (i.param, index[(entry_key, i.name)])
            for i in (entry.instrs if entry else [])
            if i.opcode == "parameter" and i.param is not None
        )
        self.in_nodes = _match_args(params, nodes, meta.get("args") or [])
        self.out_nodes: dict[int, int] = {}
        root = next((i for i in (entry.instrs if entry else []) if i.is_root), None)
        if root is not None:
            r = index[(entry_key, root.name)]
            n_out = max(len(meta.get("results") or []), 1)
            for k in range(n_out):
                ops = root.operands if root.opcode == "tuple" else []
                self.out_nodes[k] = index.get((entry_key, ops[k]), r) if k < len(ops) else r
        g0 = np.zeros(GRAPH_DIM, np.float32)
        cost = meta.get("cost") or {}
        if any(k in cost for k in COST_KEYS):
            g0[_COST] = 1.0
            for k, key in enumerate(COST_KEYS):
                g0[_COST + 1 + k] = math.log1p(max(float(cost.get(key, 0.0)), 0.0))
        self.g0 = g0
        counts = np.bincount([_OP.get(n.opcode, N_OP - 1) for n in nodes], minlength=N_OP)
        self.op_counts = np.log1p(counts).astype(np.float32)
        sizes = [self.num_nodes, len(edges), len(module.computations)]
        self.sizes = np.log1p(np.array(sizes, np.float32))
        if self.x is not None:  # arrays with a layout decision: "default" until a config says otherwise
            for d in XlaLayoutPass().decisions(meta):
                _, side, k = d.name.split(":")
                node = (self.in_nodes if side == "in" else self.out_nodes).get(int(k))
                if node is not None:
                    self.x[node, _LAYOUT_IN if side == "in" else _LAYOUT_OUT] = 1.0


def _match_args(params: list[tuple[int, int]], nodes: list[Instr], args: list[dict]) -> dict[int, int]:
    """Flat argument index -> entry parameter node. Parameter i is argument i when the counts
    agree; when jit dropped unused arguments, parameters are matched to arguments in order by shape."""
    if not args or len(params) == len(args):
        return {p: i for p, i in params}
    out, k = {}, 0
    for a, arg in enumerate(args):
        if k < len(params) and tuple(nodes[params[k][1]].dims) == tuple(arg.get("shape", ())):
            out[a] = params[k][1]
            k += 1
    return out


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    return dict(value or {})


@register("hlo")
class HLOFeaturizer(Featurizer):
    """XLA candidates as graphs of HLO instructions with config features (module docstring).

    Example::

        f = HLOFeaturizer()                      # or create("hlo"); hlo="optimized" for post-opt HLO
        [data] = f.graphs(row, [{"opt:xla_cpu_prefer_vector_width": 512}])
        data.x.shape, data.g.shape, data.flat.shape
    """

    backend = "xla"
    VOCAB_VERSION = VOCAB_VERSION
    NODE_DIM = NODE_DIM
    GRAPH_DIM = GRAPH_DIM
    FLAT_DIM = FLAT_DIM

    def __init__(self, hlo: str = "ir", cache_size: int = 64) -> None:
        if hlo not in ("ir", "optimized"):
            raise ValueError(f"hlo must be 'ir' or 'optimized', not {hlo!r}")
        self.hlo, self.cache_size = hlo, cache_size
        self._cache: OrderedDict[str, _Workload] = OrderedDict()
        self._last: tuple[Any, Any, _Workload] | None = None  # (ir object, meta object, parsed)

    def signature(self) -> dict[str, Any]:
        return {**super().signature(), "hlo": self.hlo}

    def workload(self, row: Any) -> _Workload | None:
        """The parsed, cached form of a workload row (None when its HLO has no instructions).

        A row is a database workload row (``ir``, ``meta`` as a dict or JSON text) or a
        worker's info dict (``hlo`` and the meta keys at the top level)."""
        row = row if isinstance(row, dict) else dict(row)
        ir, meta_obj = row.get("ir", row.get("hlo")), row.get("meta", row)
        last = self._last
        if last is not None and last[0] is ir and last[1] is meta_obj:  # the same row again
            return last[2] if last[2].num_nodes else None
        meta = _as_dict(meta_obj)
        text = meta.get("optimized_hlo", "") if self.hlo == "optimized" else ir or ""
        extra = json.dumps([meta.get("args"), meta.get("results"), meta.get("cost")], sort_keys=True)
        key = hashlib.sha1(f"{text}\0{extra}".encode()).hexdigest()
        wl = self._cache.get(key)
        if wl is None:
            wl = _Workload(parse(text or ""), meta, int(key[:15], 16))
            self._cache[key] = wl
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        self._last = (ir, meta_obj, wl)
        return wl if wl.num_nodes else None

    def graphs(self, workload: dict[str, Any], configs: Sequence[Any]) -> list[Any]:
        try:
            wl = self.workload(workload)
        except Exception:  # an HLO text the parser cannot use at all
            wl = None
        out = []
        for config in configs:
            try:
                out.append(self._graph(wl, _as_dict(config)) if wl is not None else None)
            except (TypeError, ValueError, AttributeError):
                out.append(None)
        return out

    def _graph(self, wl: _Workload, config: dict[str, Any]) -> Any:
        import torch
        from torch_geometric.data import Data

        assert wl.x is not None
        x = wl.x.copy()
        g = wl.g0.copy()
        layout_elems = np.zeros(6, np.float32)
        for side, nodes, col in (("in", wl.in_nodes, _LAYOUT_IN), ("out", wl.out_nodes, _LAYOUT_OUT)):
            for k, node in nodes.items():
                choice = config.get(f"layout:{side}:{k}")
                if choice is not None and choice in LAYOUTS:
                    x[node, col : col + 3] = 0.0
                    x[node, col + LAYOUTS.index(choice)] = 1.0
        x[:, _NODE_CFG:] = wl.classes @ node_config(config)
        n_set = 0
        for name, value in sorted(config.items()):
            if value is None:
                continue
            n_set += 1
            _encode(g, wl, name, value)
        g[_N_SET] = math.log1p(n_set)
        for col, at in ((_LAYOUT_IN, 0), (_LAYOUT_OUT, 3)):
            layout_elems[at : at + 3] = wl.log2_elems @ x[:, col : col + 3]
        other = x[:, N_OP:]
        flat = np.concatenate([wl.op_counts, other.mean(0), other.max(0), layout_elems, wl.sizes, g])
        return Data(
            x=torch.from_numpy(x),
            edge_index=wl.edge_index,
            g=torch.from_numpy(g).unsqueeze(0),
            flat=torch.from_numpy(flat).unsqueeze(0),
            num_nodes=wl.num_nodes,
            workload_key=wl.key,
        )


def _encode(g: np.ndarray, wl: _Workload, name: str, value: Any) -> None:
    """Add one non-default decision to `g`: layout ones (on the nodes) only add to the layout
    counts, or to a hash bucket when their array is not found."""
    kind, _, rest = name.partition(":")
    if kind == "layout":
        side, _, index = rest.partition(":")
        nodes = wl.in_nodes if side == "in" else wl.out_nodes if side == "out" else {}
        if value in ("transposed", "auto") and side in ("in", "out"):
            g[_LAYOUT_COUNTS + 2 * (side == "out") + (value == "auto")] += 1.0
        if value in LAYOUTS and index.isdigit() and int(index) in nodes:
            return
    elif kind == "opt" and rest in _OPT_AT:
        at, enc, values = _OPT_AT[rest]
        g[at] = 1.0
        if _encode_option(g, at + 1, enc, values, value):
            return
    elif kind == "disable" and rest in _PASS_AT:
        if value:
            g[_PASS_AT[rest]] = 1.0
        return
    g[_HASH + _bucket(f"{name}={json.dumps(value, sort_keys=True)}")] += 1.0


def _encode_option(g: np.ndarray, at: int, enc: str, values: tuple[str, ...], value: Any) -> bool:
    """Write an option's value slots; False when the value is not in the vocabulary."""
    if enc == "bool":
        g[at] = float(bool(value))
        return isinstance(value, bool)
    if enc in ("level", "log2"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        number = float(value)
        g[at] = number / 3.0 if enc == "level" else (math.log2(number) - 7.0 if number > 0 else -1.0)
        return True
    parts = [p.strip() for p in str(value).split(",")] if enc == "set" else [str(value)]
    parts = [p for p in parts if p]
    known = True
    for p in parts:
        if p in values:
            g[at + values.index(p)] = 1.0
        else:
            g[at + len(values) + (enc == "set")] = 1.0
            known = False
    if enc == "set" and not parts:
        g[at + len(values)] = 1.0
    return known
