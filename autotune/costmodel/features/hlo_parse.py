"""A tolerant line-based parser of HLO text, and the instruction graph the `hlo` featurizer reads.

It reads what XLA prints: `HloPrintOptions.short_parsable()` (the workloads' `ir` column and
``meta["optimized_hlo"]``) as well as the long form of ``compiled.as_text()`` (``%`` names,
typed operands, metadata). Lines it does not understand are skipped, never fatal, so a
newer XLA that prints something new still gives a graph.

Example::

    module = parse(row["ir"])
    [c.name for c in module.computations]         # ['region_0.1', ..., 'main.11']
    nodes, edges = instruction_graph(module)      # every instruction; operand -> user, call edges
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

#: XLA's opcode names (xla/hlo/ir/hlo_opcode.h, HLO_OPCODE_LIST); anything else is 'other'.
OPCODES: tuple[str, ...] = (
    "abs", "acos", "acosh", "add", "add-dependency", "after-all", "all-gather", "all-gather-done",
    "all-gather-start", "all-reduce", "all-reduce-done", "all-reduce-start", "all-to-all", "and",
    "asin", "asinh", "async-done", "async-start", "async-update", "atan", "atan2", "atanh",
    "batch-norm-grad", "batch-norm-inference", "batch-norm-training", "bitcast", "bitcast-convert",
    "broadcast", "call", "cbrt", "ceil", "cholesky", "clamp", "count-leading-zeros",
    "collective-broadcast", "collective-permute", "collective-permute-done",
    "collective-permute-start", "collective-reduce", "compare", "complex", "concatenate",
    "conditional", "constant", "convert", "convolution", "copy", "copy-done", "copy-start", "cosine",
    "cosh", "custom-call", "divide", "domain", "dot", "dynamic-reshape", "dynamic-slice",
    "dynamic-update-slice", "erf", "exponential", "exponential-minus-one", "fft", "floor", "fusion",
    "gather", "get-dimension-size", "get-tuple-element", "imag", "infeed", "iota", "is-finite", "log",
    "log-plus-one", "logistic", "map", "maximum", "minimum", "mulhi", "multiply", "negate", "not",
    "opt-barrier", "or", "outfeed", "pad", "parameter", "partition-id", "popcnt", "power",
    "ragged-all-to-all", "ragged-dot", "real", "recv", "recv-done", "reduce", "reduce-precision",
    "reduce-scatter", "reduce-window", "remainder", "replica-id", "reshape", "reverse", "rng",
    "rng-bit-generator", "rng-get-and-update-state", "round-nearest-afz", "round-nearest-even",
    "rsqrt", "scaled-dot", "scan", "scatter", "select", "select-and-scatter", "send", "send-done",
    "set-dimension-size", "shift-left", "shift-right-arithmetic", "shift-right-logical", "shuffle",
    "sign", "sine", "sinh", "slice", "sort", "sqrt", "stochastic-convert", "subtract", "tan", "tanh",
    "topk", "transpose", "triangular-solve", "tuple", "while", "xor",
)  # fmt: skip

#: Attributes that name called computations (a name, or a {list} of names).
_CALL_ATTRS = (
    "calls",
    "to_apply",
    "condition",
    "body",
    "select",
    "scatter",
    "true_computation",
    "false_computation",
    "branch_computations",
    "called_computations",
)
_CALL_RE = re.compile(r"\b(" + "|".join(_CALL_ATTRS) + r")=(\{[^}]*\}|%?[\w.\-]+)")
_KIND_RE = re.compile(r"\bkind=(k\w+)")
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_COMMENT_RE = re.compile(r"/\*.*?\*/")
_ARRAY_RE = re.compile(r"([a-z][a-z0-9]*)\[([^\]]*)\](?:\{([^}]*)\})?")
_NO_OPERANDS = ("constant", "parameter", "iota", "rng-get-and-update-state", "partition-id", "replica-id")


@dataclass(slots=True)
class Instr:
    """One HLO instruction as the featurizer sees it."""

    name: str
    opcode: str
    computation: str
    dtype: str = ""  # element type ('f32', 'pred', ...), 'tuple' for tuples
    dims: tuple[int, ...] = ()
    layout: tuple[int, ...] | None = None  # minor_to_major, None when not printed
    elements: int = 1  # element count (all leaves of a tuple)
    operands: list[str] = field(default_factory=list)
    called: list[str] = field(default_factory=list)
    is_root: bool = False
    param: int | None = None  # parameter number, for parameters
    fusion_kind: str = ""  # 'kLoop', 'kInput', 'kOutput', 'kCustom' for fusions

    @property
    def default_layout(self) -> bool:
        """True when the layout is absent or row-major (minor_to_major descending)."""
        return self.layout is None or list(self.layout) == list(range(len(self.layout) - 1, -1, -1))


@dataclass
class Computation:
    name: str
    is_entry: bool = False
    instrs: list[Instr] = field(default_factory=list)
    module: int = 0  # which module of a text that joins several

    @property
    def key(self) -> str:
        """Unique over all modules of a text (`Instr.computation` holds it)."""
        return f"{self.module}:{self.name}"


@dataclass
class HloModule:
    """The parsed module: its computations in text order (the entry is usually last)."""

    name: str = ""
    computations: list[Computation] = field(default_factory=list)

    @property
    def entry(self) -> Computation | None:
        entries = [c for c in self.computations if c.is_entry]
        if entries:
            return entries[0]
        return self.computations[-1] if self.computations else None


def _close(text: str, start: int) -> int:
    """Index of the bracket closing the one at `start` (len(text) when unbalanced)."""
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets."""
    parts, depth, last = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[last:i])
            last = i + 1
    parts.append(text[last:])
    return [p.strip() for p in parts if p.strip()]


def _dim(text: str) -> int:
    digits = re.sub(r"[^0-9]", "", text)
    return int(digits) if digits else 1


def parse_shape(text: str) -> tuple[str, tuple[int, ...], tuple[int, ...] | None, int]:
    """(element type, dims, minor_to_major or None, element count) of a printed shape."""
    text = text.strip()
    if text.startswith("("):
        leaves = _ARRAY_RE.findall(text)
        total = sum(math.prod(_dim(d) for d in _split_top(dims)) for _, dims, _ in leaves)
        return "tuple", (), None, total
    m = _ARRAY_RE.match(text)
    if m is None:
        return "", (), None, 1
    dtype, dims_txt, layout_txt = m.groups()
    dims = tuple(_dim(d) for d in _split_top(dims_txt))
    layout = None
    if layout_txt is not None:
        minor = layout_txt.split(":", 1)[0]
        try:
            layout = tuple(int(x) for x in minor.split(",") if x.strip())
        except ValueError:
            layout = None
    return dtype, dims, layout, math.prod(dims)


def parse_instruction(line: str, computation: str) -> Instr | None:
    """An instruction line (``[ROOT ]name = shape opcode(operands), attrs``), or None."""
    s = _COMMENT_RE.sub("", line).strip()
    is_root = s.startswith("ROOT ")
    if is_root:
        s = s[5:].lstrip()
    name, sep, rest = s.partition(" = ")
    if not sep:
        return None
    rest = rest.lstrip()
    if rest.startswith("("):
        end = _close(rest, 0)
        shape_txt, rest = rest[: end + 1], rest[end + 1 :].lstrip()
    else:
        shape_txt, _, rest = rest.partition(" ")
    p = rest.find("(")
    if p <= 0:
        return None
    opcode = rest[:p].strip()
    end = _close(rest, p)
    args_txt, attrs = rest[p + 1 : end], _STRING_RE.sub('""', rest[end + 1 :])
    dtype, dims, layout, elements = parse_shape(shape_txt)
    ins = Instr(name.strip().lstrip("%"), opcode, computation, dtype, dims, layout, elements, is_root=is_root)
    if opcode == "parameter":
        digits = re.sub(r"[^0-9]", "", args_txt)
        ins.param = int(digits) if digits else None
    elif opcode not in _NO_OPERANDS:
        ins.operands = [a.split()[-1].lstrip("%") for a in _split_top(args_txt)]
    for _, value in _CALL_RE.findall(attrs):
        names = value.strip("{}").split(",") if value.startswith("{") else [value]
        ins.called.extend(n.strip().lstrip("%") for n in names if n.strip())
    kind = _KIND_RE.search(attrs)
    if kind and opcode == "fusion":
        ins.fusion_kind = kind.group(1)
    return ins


def _header_name(line: str) -> str:
    s = line.strip()
    if s.startswith("ENTRY "):
        s = s[6:].lstrip()
    return re.split(r"[\s(]", s, maxsplit=1)[0].lstrip("%")


def parse(text: str) -> HloModule:
    """Parse HLO text (short_parsable or long form, one or several modules joined)."""
    module = HloModule()
    current: Computation | None = None
    index = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if current is None:
            if line.startswith("HloModule "):
                index += 1 if module.computations else 0
                module.name = module.name or line[10:].split(",", 1)[0].strip()
            elif line.endswith("{") and " = " not in line:
                current = Computation(_header_name(line), line.startswith("ENTRY "), module=index)
                module.computations.append(current)
            continue
        if line == "}":
            current = None
            continue
        ins = parse_instruction(line, current.key)
        if ins is not None:
            current.instrs.append(ins)
    return module


def instruction_graph(module: HloModule) -> tuple[list[Instr], list[tuple[int, int]]]:
    """Every instruction of every computation as a node, and the edges between them.

    Edges: operand -> user (inside a computation), and from a calling instruction (call,
    fusion, reduce, map, while, sort...) to the ROOT and the parameters of each computation
    it calls. Operands or computations that cannot be found are skipped.
    """
    nodes: list[Instr] = []
    local: dict[str, dict[str, int]] = {}
    anywhere: dict[str, int] = {}
    for comp in module.computations:
        table = local.setdefault(comp.key, {})
        for ins in comp.instrs:
            table[ins.name] = len(nodes)
            anywhere.setdefault(ins.name, len(nodes))
            nodes.append(ins)
    targets: dict[str, list[int]] = {}
    for comp in module.computations:
        table = local[comp.key]
        roots = [table[i.name] for i in comp.instrs if i.is_root or i.opcode == "parameter"]
        if comp.instrs and not any(i.is_root for i in comp.instrs):  # no ROOT printed: the last one
            roots.append(table[comp.instrs[-1].name])
        targets.setdefault(comp.key, roots)
    edges: list[tuple[int, int]] = []
    for i, ins in enumerate(nodes):
        table = local[ins.computation]
        for op in ins.operands:
            j = table.get(op, anywhere.get(op))
            if j is not None and j != i:
                edges.append((j, i))
        prefix = ins.computation.split(":", 1)[0]
        for callee in ins.called:
            edges.extend((i, j) for j in targets.get(f"{prefix}:{callee}", ()))
    return nodes, edges
