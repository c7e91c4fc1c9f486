"""The `hlo` featurizer on real JAX workloads: zoo models and single ops, lowered and compiled
here, stored as the XLA tuner stores a workload row, featurized with the decisions the XLA
passes offer for them."""

from __future__ import annotations

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from autotune import zoo
from autotune.backends.xla import workload as wl
from autotune.backends.xla.backend import decisions_for
from autotune.backends.xla.worker import _changed_passes
from autotune.costmodel.features import hlo
from autotune.costmodel.features.base import create
from autotune.costmodel.features.hlo_parse import OPCODES, instruction_graph, parse
from autotune.zoo import jax_ops

pytestmark = pytest.mark.timeout(300)

#: The tunable options of the jaxlib these tests were written with (what
#: `xla_options.available()` finds; fixed here so that no discovery run is needed).
_KINDS = ("DOT", "ELTWISE", "INDIVIDUAL_CONVOLUTION", "INDIVIDUAL_DOT", "REDUCE")
_LIB = [f"LIBRARY_FUSION_TYPE_{k}" for k in _KINDS]
OPTIONS = {
    "xla_backend_optimization_level": {"type": "int32"},
    "xla_cpu_enable_fast_math": {"type": "bool"},
    "xla_cpu_use_xnnpack": {"type": "bool"},
    "xla_cpu_experimental_xnn_fusion_type": {"type": "enum", "values": _LIB},
    "xla_cpu_opt_preset": {
        "type": "enum",
        "values": ["CPU_OPT_PRESET_DEFAULT", "CPU_OPT_PRESET_FAST_COMPILE", "CPU_OPT_PRESET_FAST_RUNTIME"],
    },
    "xla_cpu_prefer_vector_width": {"type": "int32"},
}
MODELS = ("gpt-block", "convnet", "mlp", "op-conv2d-2x16x16x8x16x3", "op-attention-1x32x64x2")


def _row(fn, args, name: str) -> dict:
    """A workload row as `ModelTuner.prepare` stores it for XLA (meta as JSON text), plus the
    compiled executable's long-form text under 'as_text' for the parser tests."""
    lowered = jax.jit(fn).lower(*args)
    compiled = lowered.compile()
    cost = compiled.cost_analysis() or {}
    meta = {
        "args": wl.arrays(args),
        "results": wl.arrays(lowered.out_info),
        "changed_passes": _changed_passes(lowered),
        "options": OPTIONS,
        "cost": {k: float(v) for k, v in cost.items() if "{" not in k},
        "optimized_hlo": wl.optimized_hlo_text(compiled),
        "platform": "cpu",
    }
    return {"name": name, "ir": wl.hlo_text(lowered), "meta": json.dumps(meta), "as_text": compiled.as_text()}


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    out = {}
    for name in MODELS:
        m = zoo.create(name, backend="xla")
        out[name] = _row(m.fn, m.example_args, name)
    return out


def _configs(row: dict) -> list[dict]:
    """The default, then one config per non-default choice of every decision, then a mix."""
    meta = json.loads(row["meta"])
    decisions = decisions_for(meta)
    singles = [{d.name: c} for d in decisions for c in d.choices if c is not None]
    mixed = {d.name: d.choices[-1] for d in decisions[::3]}
    return [{}, *singles, mixed]


def _entry_param(text: str, index: int) -> str:
    module = parse(text)
    return next(i.name for i in module.entry.instrs if i.opcode == "parameter" and i.param == index)


def test_dimensions_match_the_class_constants():
    f = create("hlo")
    assert isinstance(f, hlo.HLOFeaturizer) and f.backend == "xla"
    assert f.signature() == {
        "featurizer": "hlo",
        "vocab_version": "hlo-2",
        "node_dim": hlo.NODE_DIM,
        "graph_dim": hlo.GRAPH_DIM,
        "flat_dim": hlo.FLAT_DIM,
        "hlo": "ir",
    }
    assert create("hlo", hlo="optimized").signature()["hlo"] == "optimized"
    with pytest.raises(ValueError):
        create("hlo", hlo="stablehlo")


@pytest.mark.parametrize("source", ["ir", "optimized"])
def test_every_config_featurizes_with_valid_shapes(rows, source):
    f = create("hlo", hlo=source)
    for name, row in rows.items():
        configs = _configs(row)
        graphs = f.graphs(row, configs)
        assert len(graphs) == len(configs) and all(g is not None for g in graphs), name
        for g in graphs:
            n = g.num_nodes
            assert g.x.shape == (n, hlo.NODE_DIM) and g.x.dtype == torch.float32
            assert g.g.shape == (1, hlo.GRAPH_DIM) and g.flat.shape == (1, hlo.FLAT_DIM)
            assert g.edge_index.dtype == torch.long and g.edge_index.shape[0] == 2
            assert g.edge_index.numel() and int(g.edge_index.min()) >= 0 and int(g.edge_index.max()) < n
            for t in (g.x, g.g, g.flat):
                assert torch.isfinite(t).all(), name
        # every non-default config is told apart from the default
        base = graphs[0]
        for config, g in zip(configs[1:], graphs[1:]):
            differs = not torch.equal(g.g, base.g) or not torch.equal(g.x, base.x)
            assert differs and not torch.equal(g.flat, base.flat), (name, config)


def test_layout_configs_change_the_parameter_node(rows):
    f = create("hlo")
    row = rows["gpt-block"]
    meta = json.loads(row["meta"])
    layout = [d for d in decisions_for(meta) if d.name.startswith("layout:in:")]
    assert layout
    for d in layout:
        index = int(d.name.rsplit(":", 1)[1])
        default, transposed, auto = f.graphs(row, [{}, {d.name: "transposed"}, {d.name: "auto"}])
        changed = (default.x != transposed.x).any(1).nonzero().flatten().tolist()
        assert len(changed) == 1, d.name
        module = parse(row["ir"])
        nodes, _ = instruction_graph(module)
        assert nodes[changed[0]].name == _entry_param(row["ir"], index)
        assert nodes[changed[0]].dims == tuple(meta["args"][index]["shape"])
        assert not torch.equal(transposed.x, auto.x)
        assert torch.equal(transposed.edge_index, default.edge_index)
    out = [d for d in decisions_for(meta) if d.name.startswith("layout:out:")]
    assert out
    default, moved = f.graphs(row, [{}, {out[0].name: "transposed"}])
    (changed,) = (default.x != moved.x).any(1).nonzero().flatten().tolist()
    assert nodes[changed].is_root and nodes[changed].computation == module.entry.key


def test_global_decisions_go_to_g_and_unknown_ones_to_hash_buckets(rows):
    f = create("hlo")
    row = rows["mlp"]
    default, width, unknown, unknown_value, disabled, foreign = f.graphs(
        row,
        [
            {},
            {"opt:xla_cpu_prefer_vector_width": 512},
            {"opt:xla_cpu_some_future_option": "FANCY", "disable:not-a-pass": True},
            {"opt:xla_cpu_opt_preset": "CPU_OPT_PRESET_FROM_THE_FUTURE"},
            {"disable:algsimp": True},
            json.dumps({"layout:in:99": "transposed", "tile:whatever": [1, 2]}),
        ],
    )
    hash_slice = slice(hlo._HASH, hlo._HASH + hlo.HASH_BUCKETS)
    for g in (width, unknown, unknown_value, disabled, foreign):
        assert g is not None and not torch.equal(g.g, default.g)
        # only the node-level config columns may change, and only for decisions they know
        assert torch.equal(g.x[:, : hlo._NODE_CFG], default.x[:, : hlo._NODE_CFG])
    for g in (unknown, unknown_value, disabled, foreign):
        assert torch.equal(g.x, default.x)
    assert not torch.equal(width.x, default.x)
    assert width.g[0, hash_slice].sum() == 0 and unknown.g[0, hash_slice].sum() == 2
    assert unknown_value.g[0, hash_slice].sum() == 1 and foreign.g[0, hash_slice].sum() == 2
    assert disabled.g[0, hlo._PASS_AT["algsimp"]] == 1
    # the cost-analysis numbers of the workload are in g
    assert default.g[0, hlo._COST] == 1 and default.g[0, hlo._COST + 1] > 0


def test_node_level_config_marks_the_op_classes_a_decision_acts_on(rows):
    f = create("hlo")
    row = rows["gpt-block"]
    nodes, _ = instruction_graph(parse(row["ir"]))
    dots = torch.tensor([n.opcode == "dot" for n in nodes])
    loops = torch.tensor([any(n.opcode in hlo.CLASSES[c] for c in hlo._LOOPS) for n in nodes])
    assert dots.any() and loops.any()
    xnn = "opt:xla_cpu_experimental_xnn_fusion_type"
    default, dot, both, width, off = f.graphs(
        row,
        [
            {},
            {xnn: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
            {xnn: "LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_ELTWISE"},
            {"opt:xla_cpu_prefer_vector_width": 512},
            {"opt:xla_cpu_use_xnnpack": False, "disable:dot-library-rewriter": True},
        ],
    )
    col = lambda name: hlo._NODE_CFG + hlo.NODE_CONFIG.index(name)  # noqa: E731
    assert torch.equal(dot.x[:, col("claimed:xnn")], dots.float())
    eltwise = torch.tensor([n.opcode in hlo.CLASSES["eltwise"] for n in nodes])
    assert torch.equal(both.x[:, col("claimed:xnn")], (dots | eltwise).float())
    assert torch.equal(width.x[:, col("vector_width")], loops.float() * 2.0)  # log2(512) - 7
    assert torch.equal(off.x[:, col("xnnpack")], -dots.float())
    assert torch.equal(off.x[:, col("passes_off")], dots.float())
    assert not default.x[:, hlo._NODE_CFG :].any()


def test_parser_handles_models_before_and_after_optimization(rows):
    for name in ("gpt-block", "convnet"):
        row = rows[name]
        texts = {
            "ir": row["ir"],
            "optimized": json.loads(row["meta"])["optimized_hlo"],
            "long": row["as_text"],
        }
        for kind, text in texts.items():
            module = parse(text)
            nodes, edges = instruction_graph(module)
            lines = [ln for ln in text.splitlines() if re.match(r"\s+(ROOT )?%?[\w.\-]+ = ", ln)]
            assert len(nodes) == len(lines), (name, kind)
            names = {(n.computation, n.name) for n in nodes}
            assert all((n.computation, o) in names for n in nodes for o in n.operands), (name, kind)
            assert sum(n.is_root for n in nodes) == len(module.computations)
            callers = [i for i, n in enumerate(nodes) if n.called]
            assert callers and {s for s, _ in edges} >= set(callers), (name, kind)
            entry_params = sorted(n.param for n in module.entry.instrs if n.opcode == "parameter")
            assert entry_params == list(range(len(json.loads(row["meta"])["args"]))), (name, kind)
            if kind != "ir":
                assert any(n.opcode == "fusion" and n.fusion_kind for n in nodes)


def test_every_opcode_of_the_bundled_models_is_in_the_vocabulary(rows):
    seen = set()
    for row in rows.values():
        for text in (row["ir"], json.loads(row["meta"])["optimized_hlo"]):
            seen |= {n.opcode for n in instruction_graph(parse(text))[0]}
    assert seen - set(OPCODES) == set()
    assert {"dot", "convolution", "reduce", "fusion", "parameter"} <= seen


def test_unused_arguments_dropped_by_jit_still_map_layouts():
    def fn(params, x):
        return x @ params["w"]

    args = ({"unused": jnp.ones((32, 32)), "w": jnp.ones((64, 16))}, jnp.ones((16, 64)))
    row = _row(fn, args, "unused")
    assert len(parse(row["ir"]).entry.instrs) < 4  # jit dropped `unused`: two parameters
    f = create("hlo")
    default, moved = f.graphs(row, [{}, {"layout:in:2": "transposed"}])
    nodes, _ = instruction_graph(parse(row["ir"]))
    (changed,) = (default.x != moved.x).any(1).nonzero().flatten().tolist()
    assert nodes[changed].opcode == "parameter" and nodes[changed].dims == (16, 64)


def test_bad_input_gives_none_never_an_exception(rows):
    f = create("hlo")
    assert f.graphs({"ir": "not hlo at all", "meta": "{}"}, [{}, {"x": 1}]) == [None, None]
    assert f.graphs({"ir": "", "meta": {}}, [{}]) == [None]
    out = f.graphs(
        rows["mlp"], [{"opt:xla_backend_optimization_level": "high"}, "[1, 2]", {"layout:in:1": 7}]
    )
    assert out[1] is None and out[0] is not None and out[2] is not None


def test_parse_is_cached_per_workload(rows):
    f = create("hlo")
    row = rows["convnet"]
    first = f.workload(row)
    again = f.workload(dict(row))  # an equal row, another object
    assert first is again and len(f._cache) == 1


def test_workload_key_tells_workloads_apart(rows):
    """The centred GNN groups a call's candidates by `workload_key`: one per workload, stable
    across featurizer instances (it comes from the workload's text, not from the object)."""
    f = create("hlo")
    keys = {}
    for name, row in rows.items():
        graphs = f.graphs(row, _configs(row)[:4])
        assert len({g.workload_key for g in graphs}) == 1, name
        keys[name] = graphs[0].workload_key
        assert create("hlo").graphs(dict(row), [{}])[0].workload_key == keys[name]
    assert len(set(keys.values())) == len(keys)


def test_single_op_models(rows):
    shapes = {
        "op-dense-8x64x32": (8, 32),
        "op-layernorm-4x16": (4, 16),
        "op-softmax-2x8": (2, 8),
        "op-mlp2-4x16x32": (4, 16),
        "op-conv2d-2x16x16x8x16x3": (2, 16, 16, 16),
        "op-attention-1x8x16x2": (1, 8, 16),
        "op-pool-2x8x8x4x2": (2, 4, 4, 4),
        "op-reduce-6x10": (10,),
        "op-eltwise-3x5": (3, 5),
    }
    for spec, shape in shapes.items():
        m = zoo.create(spec, backend="xla")
        out = np.asarray(jax.jit(m.fn)(*m.example_args))
        assert m.name == spec and out.shape == shape and np.isfinite(out).all()
    a, b = (zoo.create("op-dense-8x64x32", backend="xla").example_args for _ in range(2))
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))  # seeded
    # softmax rows sum to one
    m = zoo.create("op-softmax-2x8", backend="xla")
    assert np.allclose(np.asarray(jax.jit(m.fn)(*m.example_args)).sum(-1), 1.0, atol=1e-5)
    m = zoo.create("op-pool-1x4x4x1x2", backend="xla")  # max of each 2x2 window
    x = np.asarray(m.example_args[1])[0, :, :, 0]
    want = x.reshape(2, 2, 2, 2).max(axis=(1, 3))
    assert np.allclose(np.asarray(jax.jit(m.fn)(*m.example_args))[0, :, :, 0], want)
    m = zoo.create("op-reduce-6x10", backend="xla")
    x = np.asarray(m.example_args[1])
    assert np.allclose(np.asarray(jax.jit(m.fn)(*m.example_args)), x.sum(0), atol=1e-5)
    assert len(jax_ops.DATA_OPS) >= 16
    assert all(jax_ops.parse(s)[0] in jax_ops.FORMS for s in jax_ops.DATA_OPS)
    for bad in (
        "op-dense-8x64",
        "op-nope-1x2",
        "op-dense-8xax2",
        "op-attention-1x8x10x3",
        "op-dense-1x99999x99999",
        "op-pool-1x4x4x1x5",
    ):
        with pytest.raises(zoo.UnknownModelError, match="forms: op-dense-MxKxN"):
            zoo.create(bad, backend="xla")
