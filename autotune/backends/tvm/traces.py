"""Which MetaSchedule traces may be applied: the one allow-list, checked on everything foreign.

A trace is a program that rewrites the user's code. MetaSchedule's own design spaces and
postprocessors emit a small set of schedule instructions and annotation keys; a trace
with anything else (e.g. `Annotate(..., "pragma_import_llvm")`, which links arbitrary LLVM
IR into the module) is refused. The check runs on every imported record and again
whenever a trace is applied (confirmation, compile time), so a database merged from
elsewhere cannot smuggle one in.

Example::

    problem = check(config["trace"])     # '' when the trace may be applied
    trace = require(config)              # the same, raising ValueError
"""

from __future__ import annotations

from typing import Any

#: Schedule instructions MetaSchedule's space generators and postprocessors emit.
INSTRUCTIONS = frozenset(
    {
        "AddUnitLoop",
        "Annotate",
        "Bind",
        "Blockize",
        "CacheInplace",
        "CacheRead",
        "CacheWrite",
        "ComputeAt",
        "ComputeInline",
        "DecomposePadding",
        "DecomposeReduction",
        "EnterPostproc",
        "Fuse",
        "GetBlock",
        "GetChildBlocks",
        "GetConsumers",
        "GetLoops",
        "GetOutputBlocks",
        "GetProducers",
        "GetSBlock",
        "PadEinsum",
        "Parallel",
        "RFactor",
        "ReIndex",
        "Reorder",
        "ReverseComputeAt",
        "ReverseComputeInline",
        "SampleCategorical",
        "SampleComputeLocation",
        "SamplePartitionedTile",
        "SamplePerfectTile",
        "SetScope",
        "Split",
        "StorageAlign",
        "Tensorize",
        "TransformBlockLayout",
        "TransformLayout",
        "Unannotate",
        "Unroll",
        "Vectorize",
    }
)
#: Annotation keys those rules set (MetaSchedule's, ours, and the loop pragmas they lower to).
ANNOTATIONS = frozenset(
    {
        "meta_schedule.auto_tensorize",
        "meta_schedule.auto_tensorize_init",
        "meta_schedule.cooperative_fetch",
        "meta_schedule.layout_rewrite_preproc",
        "meta_schedule.parallel",
        "meta_schedule.random_compute_producer",
        "meta_schedule.thread_extent_high_inclusive",
        "meta_schedule.thread_extent_low_inclusive",
        "meta_schedule.tiling_structure",
        "meta_schedule.unroll_explicit",
        "meta_schedule.unroll_implicit",
        "meta_schedule.vectorize",
        "meta_schedule.write_cache_level",
        "pragma_auto_unroll_max_step",
        "pragma_unroll_explicit",
        "schedule_rule",  # "None": later rules leave a block alone (our RegisterTile sets it)
        "software_pipeline_async_stages",
        "software_pipeline_order",
        "software_pipeline_stage",
    }
)
#: What the index map of a `TransformLayout` (weight layout rewriting) may be built of: it
#: travels as TVM JSON text, which is only loaded when every node is one of these.
INDEX_MAP_NODES = frozenset(
    {
        "None",
        "ffi.Array",
        "ffi.String",
        "int",
        "ir.IntImm",
        "ir.PrimType",
        "ir.Var",
        "prim.Add",
        "prim.Cast",
        "prim.FloorDiv",
        "prim.FloorMod",
        "prim.Mul",
        "prim.Sub",
        "tirx.IndexMap",
    }
)
MAX_INDEX_MAP = 65_536  # characters of one index map's JSON text
MAX_INSTRUCTIONS = 20_000
MAX_LITERAL = 256  # characters of one string input (names, tiling structures)
MAX_DEPTH = 4  # nesting of an instruction's inputs or a decision's value


def _plain(value: Any, depth: int = 0) -> bool:
    """JSON scalars and short strings, in lists nested at most MAX_DEPTH deep."""
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return len(value) <= MAX_LITERAL
    if isinstance(value, list) and depth < MAX_DEPTH:
        return all(_plain(v, depth + 1) for v in value)
    return False


def _index_maps(inputs: list) -> str:
    """'' when every index map among a layout instruction's inputs is one, else why not."""
    import json

    for v in inputs:
        if not (isinstance(v, str) and v.startswith("{")):
            continue
        if len(v) > MAX_INDEX_MAP:
            return f"an index map of {len(v)} characters (at most {MAX_INDEX_MAP})"
        try:
            graph = json.loads(v)
        except ValueError:
            return "an index map that is not JSON"
        nodes = graph.get("nodes") if isinstance(graph, dict) else None
        if not isinstance(nodes, list) or not nodes:
            return "an index map that is not a TVM JSON graph"
        kinds = {n.get("type") if isinstance(n, dict) else None for n in nodes}
        bad = sorted(str(k)[:40] for k in kinds - INDEX_MAP_NODES)
        if bad:
            return f"an index map with {bad[0]!r} nodes (only index arithmetic may appear)"
        root = graph.get("root_index")
        rooted = isinstance(root, int) and 0 <= root < len(nodes)
        if not (rooted and nodes[root].get("type") == "tirx.IndexMap"):
            return "an index map whose root is no IndexMap"
    return ""


def require(config: Any) -> list:
    """The trace of a stored config (`{"trace": ...}`); ValueError when it may not be applied."""
    trace = config.get("trace") if isinstance(config, dict) else None
    problem = check(trace)
    if problem:
        raise ValueError(f"refused trace: {problem}")
    return trace


def check(trace: Any) -> str:
    """'' when `trace` (MetaSchedule's JSON: [instructions, decisions]) may be applied, else why not."""
    if not (isinstance(trace, list) and len(trace) == 2 and all(isinstance(p, list) for p in trace)):
        return "not a MetaSchedule trace ([instructions, decisions] expected)"
    insts, decisions = trace
    if len(insts) > MAX_INSTRUCTIONS:
        return f"{len(insts)} instructions (at most {MAX_INSTRUCTIONS})"
    for i, inst in enumerate(insts):
        if not (isinstance(inst, list) and len(inst) == 4 and isinstance(inst[0], str)):
            return f"instruction {i}: not [name, inputs, attrs, outputs]"
        name, inputs, attrs, outputs = inst
        if name not in INSTRUCTIONS:
            return f"instruction {i}: {name[:40]!r} is not a schedule instruction MetaSchedule emits"
        if name in ("TransformLayout", "TransformBlockLayout") and isinstance(inputs, list):
            problem = _index_maps(inputs)
            if problem:
                return f"instruction {i} ({name}): {problem}"
            inputs = [v for v in inputs if not (isinstance(v, str) and v.startswith("{"))]
        if not (_plain(inputs) and _plain(attrs) and _plain(outputs)):
            return f"instruction {i} ({name}): inputs, attributes or outputs are not plain short values"
        if name in ("Annotate", "Unannotate"):
            keys = [a for a in attrs if isinstance(a, str)]
            if not keys or any(k not in ANNOTATIONS for k in keys):
                return f"instruction {i}: annotation {str(keys[:1])[:60]} is not one MetaSchedule sets"
    for d in decisions:
        if not (isinstance(d, list) and len(d) == 2 and isinstance(d[0], int) and _plain(d[1])):
            return "a decision is not [instruction index, value]"
        if not 0 <= d[0] < len(insts):
            return f"a decision names instruction {d[0]}, out of range"
    return ""
