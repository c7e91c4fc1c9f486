"""The sweep: single changes from the best config told so far, then random unseen ones."""

from __future__ import annotations

from autotune.passes.base import Decision
from autotune.search import graph

DECISIONS = [
    Decision("tensor:0:dot_general:8x8", "subgraph", "layout", (None, "transposed")),
    Decision("cut:0:dot_general:8x8", "subgraph", "fusion", (None, True)),
    Decision("tensor:4:conv:8x8x8x8", "subgraph", "layout", (None, "transposed", "channels-major")),
]


def test_single_changes_first_then_from_the_new_best():
    s = graph.create("sweep", DECISIONS, seed=0)
    s.tell({}, 1.0)
    first = [s.ask() for _ in range(4)]  # asked before any is told: no repeats among them
    assert first == [
        {"tensor:0:dot_general:8x8": "transposed"},
        {"cut:0:dot_general:8x8": True},
        {"tensor:4:conv:8x8x8x8": "transposed"},
        {"tensor:4:conv:8x8x8x8": "channels-major"},
    ]
    s.discard(first[3])  # ranked out by a cost model: it may come again
    for cfg, rel in zip(first[:3], (1.1, 0.8, 1.2)):
        s.tell(cfg, rel)
    # The cut won: its neighbours next, the discarded one among them.
    nxt = s.ask()
    assert nxt == {"cut:0:dot_general:8x8": True, "tensor:0:dot_general:8x8": "transposed"}
    s.tell(nxt, 0.9)
    rest = []
    while (cfg := s.ask()) is not None:
        rest.append(cfg)
        s.tell(cfg, 1.0)
    assert rest[:2] == [
        {"cut:0:dot_general:8x8": True, "tensor:4:conv:8x8x8x8": "transposed"},
        {"cut:0:dot_general:8x8": True, "tensor:4:conv:8x8x8x8": "channels-major"},
    ]
    assert len(rest) == 12 - 5  # then the rest of the space, never repeating
