"""Contract tests every graph-level search strategy passes (real Optuna, synthetic spaces)."""

from __future__ import annotations

import pytest

from autotune.passes.base import Decision, space_size
from autotune.search import graph

DECISIONS = [
    Decision("opt:a", "graph", "codegen", (None, 1, 2, 3)),
    Decision("opt:b", "graph", "fusion", (None, True, False)),
    Decision("layout:in:0", "graph", "layout", (None, "transposed", "auto")),
]


def latency(config: dict) -> float | None:
    """A synthetic objective: 'a'=2 halves the time, 'b'=False crashes."""
    if config.get("opt:b") is False:
        return None
    return 1.0 / (2.0 if config.get("opt:a") == 2 else 1.0) + 0.01 * (config.get("layout:in:0") == "auto")


@pytest.mark.parametrize("kind", graph.kinds())
def test_walks_the_whole_space_without_repeating(kind):
    s = graph.create(kind, DECISIONS, seed=3)
    s.tell({}, 1.0)
    seen = {s.key({})}
    while (cfg := s.ask()) is not None:
        key = s.key(cfg)
        assert key not in seen, f"{kind} proposed {cfg} twice"
        assert all(v != d.default for d in DECISIONS for k, v in cfg.items() if k == d.name)
        seen.add(key)
        s.tell(cfg, latency(cfg))
    assert len(seen) == space_size(DECISIONS) == s.size
    assert s.exhausted() and s.ask() is None


@pytest.mark.parametrize("kind", graph.kinds())
def test_same_seed_same_proposals(kind):
    def run(seed: int) -> list[str]:
        s = graph.create(kind, DECISIONS, seed=seed)
        out = []
        for _ in range(10):
            cfg = s.ask()
            out.append(s.key(cfg))
            s.tell(cfg, latency(cfg))
        return out

    assert run(5) == run(5)


@pytest.mark.parametrize("kind", graph.kinds())
def test_configs_told_up_front_are_never_proposed(kind):
    s = graph.create(kind, DECISIONS, seed=1)
    told = [{}, {"opt:a": 2}, {"opt:b": False}, {"opt:a": 1, "layout:in:0": "auto"}]
    for cfg in told:
        s.tell(cfg, latency(cfg))
    for _ in range(10):
        cfg = s.ask()
        assert s.key(cfg) not in {s.key(t) for t in told}
        s.tell(cfg, latency(cfg))


def test_rejects_unknown_decisions_and_choices():
    s = graph.create("random", DECISIONS)
    with pytest.raises(ValueError, match="unknown decision"):
        s.tell({"opt:zzz": 1}, 1.0)
    with pytest.raises(ValueError, match="no choice"):
        s.tell({"opt:a": 7}, 1.0)
    with pytest.raises(ValueError, match="unknown graph search"):
        graph.create("annealing", DECISIONS)


def test_auto_is_exhaustive_for_small_spaces_else_tpe():
    assert type(graph.create("auto", DECISIONS, budget=36)).__name__ == "ExhaustiveSearch"
    assert type(graph.create("auto", DECISIONS, budget=10)).__name__ == "TPESearch"


def test_tpe_beats_random_on_a_wide_space():
    """On 12 decisions where two matter, TPE finds the optimum region in fewer trials (seeded)."""
    wide = [Decision(f"opt:x{i}", "graph", "codegen", (None, 1, 2, 3)) for i in range(12)]

    def cost(cfg: dict) -> float:
        return 1.0 - 0.3 * (cfg.get("opt:x3") == 2) - 0.3 * (cfg.get("opt:x7") == 1) + 0.01 * len(cfg)

    def best_after(kind: str, seed: int, n: int = 40) -> float:
        s = graph.create(kind, wide, seed=seed)
        s.tell({}, 1.0)
        vals = []
        for _ in range(n):
            cfg = s.ask()
            vals.append(cost(cfg))
            s.tell(cfg, vals[-1])
        return min(vals)

    tpe = sum(best_after("tpe", seed) for seed in range(4))
    rnd = sum(best_after("random", seed) for seed in range(4))
    assert tpe < rnd
