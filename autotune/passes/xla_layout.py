"""XLA layout decisions: the memory layout of the largest parameters and of the results.

Choices per array of rank >= 2: the default (row-major), `transposed` (the two minor-most
dimensions swapped, e.g. a weight stored column-major) and `auto` (XLA picks). They are
applied through `jax.experimental.layout` (`Format`, `Layout(major_to_minor=...)`,
`Layout.AUTO`). Arguments are passed as the caller has them, so any relayout XLA needs is
part of what gets measured.

Example::

    p = create("xla-layout")
    p.apply({"layout:in:1": "transposed"}, build)     # build.in_layouts == {1: "transposed"}
"""

from __future__ import annotations

import math
from typing import Any

from autotune.passes.base import Decision, Pass, register

CHOICES = (None, "transposed", "auto")
MAX_INPUTS = 6
MAX_OUTPUTS = 2
MIN_ELEMENTS = 256


def _candidates(arrays: list[dict[str, Any]], limit: int) -> list[int]:
    """Indices of the largest arrays of rank >= 2, largest first."""
    sized = [
        (math.prod(a["shape"]), i)
        for i, a in enumerate(arrays)
        if len(a["shape"]) >= 2 and math.prod(a["shape"]) >= MIN_ELEMENTS
    ]
    return [i for _, i in sorted(sized, key=lambda t: (-t[0], t[1]))[:limit]]


def major_to_minor(rank: int, choice: str) -> tuple[int, ...]:
    """The `Layout.major_to_minor` of a non-auto choice."""
    order = list(range(rank))
    if choice == "transposed":
        order[-2], order[-1] = order[-1], order[-2]
    return tuple(order)


@register("xla-layout")
class XlaLayoutPass(Pass):
    """Graph-level layouts of arguments and results."""

    backend = "xla"
    kind = "layout"

    def decisions(self, workload: dict[str, Any]) -> list[Decision]:
        out = []
        for side, arrays, limit in (
            ("in", workload.get("args", []), MAX_INPUTS),
            ("out", workload.get("results", []), MAX_OUTPUTS),
        ):
            for i in _candidates(arrays, limit):
                shape = "x".join(map(str, arrays[i]["shape"]))
                out.append(
                    Decision(f"layout:{side}:{i}", "graph", "layout", CHOICES, None, f"{side} {i} {shape}")
                )
        return out

    def apply(self, config: dict[str, Any], build: Any) -> None:
        for name, value in config.items():
            if name.startswith("layout:") and value is not None:
                _, side, index = name.split(":")
                (build.in_layouts if side == "in" else build.out_layouts)[int(index)] = value
