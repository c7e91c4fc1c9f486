"""The composition cost model: a graph-level config's latency from its subgraphs, measured
where known, else roofline floor times what the op family reached; ranking by it."""

from __future__ import annotations

import pytest

from autotune.costmodel.composition import CompositionRanker, Part, family, predict


def test_family_is_the_leading_op_of_the_task_name():
    assert family("fused_conv2d_add_relu") == "conv2d"
    assert family("fused_conv2d1_add1") == "conv2d"
    assert family("matmul") == "matmul"
    assert family("fused_gelu_tanh") == "gelu"
    assert family("fused_reshape7_gelu_reshape81") == "gelu"
    assert family("fused_reshape_fast_gelu_reshape1") == "fast_gelu"  # a fast form: its own
    assert family("fused_reshape1_reshape3_transpose1") == "reshape"  # nothing but moves
    assert family("layout_transform") == "layout"


def test_measured_parts_count_as_measured_new_ones_by_their_familys_ratio():
    conv = Part("conv2d", 1, 3e-3, 1e-3)  # 3x its floor
    dense = Part("matmul", 2, 1e-3, 1e-3)  # at its floor
    assert predict([conv, dense]) == pytest.approx(3e-3 + 2e-3)
    new_conv = Part("conv2d", 1, None, 2e-3)
    assert predict([dense, new_conv]) == pytest.approx(2e-3 + 2e-3)  # no conv measured: every family's
    assert predict([conv, dense, new_conv]) == pytest.approx(5e-3 + 6e-3)
    assert predict([Part("gelu", 1, None, 1e-4)]) == pytest.approx(1e-4)  # nothing known: the floor
    assert predict([conv, Part("gelu", 1, None, None)]) is None  # a part it cannot estimate
    # The ratios of parts outside the config (the model's own graph) count too.
    assert predict([new_conv], known=[conv, dense]) == pytest.approx(6e-3)


def test_the_ranker_picks_the_config_predicted_fastest_and_keeps_its_outcomes():
    own = [Part("conv2d", 1, 4e-3, 1e-3, "c"), Part("gelu", 1, 1e-3, 5e-4, "g")]
    configs = {
        "{}": own,
        # NHWC: a new conv kernel (conv ratio 4 -> 4e-3) and a layout transform: slower.
        '{"layout": "NHWC"}': [Part("conv2d", 1, None, 1e-3), Part("layout", 1, None, 1e-4), own[1]],
        # GELU kept apart: one more kernel of the same convs.
        '{"apart": true}': [*own, Part("add", 1, None, 2e-4)],
        # The tanh form, measured already at half the erf one's time.
        '{"gelu": "tanh"}': [own[0], Part("gelu", 1, 5e-4, 5e-4, "t")],
        '{"broken": true}': None,
        '{"noop": true}': own,  # builds the model's own graph again
    }
    import json

    ranker = CompositionRanker(lambda c: configs.get(json.dumps(c, sort_keys=True)))
    ranker.predicted({})
    ranker.measured({})
    pool = [{"noop": True}, {"layout": "NHWC"}, {"apart": True}, {"gelu": "tanh"}, {"broken": True}]
    assert ranker.best(pool) == 3 and ranker.ranked == 4
    assert ranker.best([{"noop": True}, {"broken": True}]) == 1  # the same subgraphs again: last
    assert ranker.best([{"broken": True}]) == 0  # nothing predicted: the strategy's order
    ranker.learn({"gelu": "tanh"}, 0.95)
    ranker.learn({"never": "ranked"}, 0.9)
    ranker.learn({"apart": True}, None)
    assert ranker.outcomes == [(pytest.approx(4.5 / 5), 0.95)]
    assert ranker.seconds > 0
