"""The staged search over two levels: graph-level decisions first, then subgraph-level ones
under the best graph-level config; resumed from told outcomes in the stage they reached."""

from __future__ import annotations

from autotune.passes.base import Decision
from autotune.search import graph
from autotune.search.staged import PATIENCE

GRAPH = [
    Decision("opt:a", "graph", "codegen", (None, 1, 2, 3)),
    Decision("opt:b", "graph", "fusion", (None, True, False)),
]
SUB = [
    Decision("cut:4:dot_general:8x8", "subgraph", "fusion", (None, True)),
    Decision("tensor:4:dot_general:8x8", "subgraph", "layout", (None, "transposed", "channels-major")),
]


def latency(config: dict) -> float:
    """'a'=2 halves the time; a cut helps only under it."""
    t = 0.5 if config.get("opt:a") == 2 else 1.0
    if config.get("cut:4:dot_general:8x8") and config.get("opt:a") == 2:
        t *= 0.8
    return t + 0.01 * (config.get("opt:b") is False)


def run(s: graph.GraphSearch, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        cfg = s.ask()
        if cfg is None:
            break
        out.append(cfg)
        s.tell(cfg, latency(cfg))
    return out


def test_auto_stages_a_space_of_two_levels():
    s = graph.create("auto", GRAPH + SUB, seed=0, budget=12)
    # Stage 2: one trial per single change of a subgraph-level decision (3), at most a quarter.
    assert type(s).__name__ == "StagedSearch" and s.first == 9
    assert graph.create("staged", GRAPH + SUB, seed=0, budget=40).first == 37
    assert graph.create("staged", GRAPH + SUB, seed=0, budget=4).first == 3
    assert type(graph.create("auto", GRAPH, seed=0, budget=6)).__name__ == "TPESearch"


def test_graph_level_first_then_subgraph_level_under_its_best():
    s = graph.create("staged", GRAPH + SUB, seed=0, budget=12)
    s.tell({}, 1.0)
    proposed = run(s, 12)
    first, second = proposed[: s.first], proposed[s.first :]
    assert all(set(c) <= {"opt:a", "opt:b"} for c in first)
    best = min(first, key=latency)
    assert second and all({k: v for k, v in c.items() if k in ("opt:a", "opt:b")} == best for c in second)
    assert all(set(c) - {"opt:a", "opt:b"} for c in second)  # each changes a subgraph decision
    assert len({s.key(c) for c in proposed}) == len(proposed)


def test_a_resumed_search_goes_on_in_the_stage_it_reached():
    s = graph.create("staged", GRAPH + SUB, seed=0, budget=12)
    s.tell({}, 1.0)
    done = run(s, 10)  # stage 1 (9), then one of stage 2
    again = graph.create("staged", GRAPH + SUB, seed=0, budget=12)
    again.tell({}, 1.0)
    for c in done:
        again.tell(c, latency(c))
    nxt = again.ask()
    assert again.stage2 is not None and again.base == s.base
    assert again.key(nxt) not in {again.key(c) for c in done}
    assert {k: v for k, v in nxt.items() if k in ("opt:a", "opt:b")} == s.base


def test_a_second_stage_that_never_wins_gives_its_budget_back():
    wide = GRAPH + [Decision("opt:c", "graph", "codegen", (None, 1, 2, 3))]  # 48 configs
    wide_sub = SUB + [
        Decision(f"cut:{i}:dot_general:8x8", "subgraph", "fusion", (None, True)) for i in range(8)
    ]
    s = graph.create("staged", wide + wide_sub, seed=0, budget=24)
    assert s.first == 18  # a quarter of 24 for 11 single changes
    s.tell({}, 1.0)
    flat = lambda c: 1.0 if set(c) - {"opt:a", "opt:b", "opt:c"} else latency(c)  # noqa: E731
    run_ = []
    for _ in range(s.first + PATIENCE):
        cfg = s.ask()
        run_.append(cfg)
        s.tell(cfg, flat(cfg))
    assert all(set(c) - {"opt:a", "opt:b", "opt:c"} for c in run_[s.first :])  # stage 2's probes
    assert s.closed and not s.stage1.exhausted()
    assert not set(s.ask()) - {"opt:a", "opt:b", "opt:c"}  # stage 1 again
