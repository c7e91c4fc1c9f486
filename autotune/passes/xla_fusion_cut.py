"""XLA subgraph-level fusion: where a fusion must stop, inside the program.

Which edges: the outputs of contractions (whether their consumers fuse into them) and
tensors with several consumers (which XLA may recompute inside each consumer's fusion),
largest first, from the traced program's equations (`rewrite.program_ops`). Choice: cut or
not. A cut is an `optimization_barrier` on the equation's output in the rewritten jaxpr
(autotune/backends/xla/rewrite.py), so the producer and its consumers cannot fuse.

Example::

    p = create("xla-fusion-cut")
    p.apply({"cut:16:dot_general:2x64x384": True}, build)      # build.rewrites[16].cut
"""

from __future__ import annotations

import math
from typing import Any

from autotune.passes.base import Decision, Pass, register
from autotune.passes.xla_tensor_layout import CONTRACTIONS, op_name, parse_name

PREFIX = "cut:"
MAX_CUTS = 6


@register("xla-fusion-cut")
class XlaFusionCutPass(Pass):
    """Fusion boundaries after contractions and after tensors used more than once."""

    backend = "xla"
    kind = "fusion"

    def decisions(self, workload: dict[str, Any]) -> list[Decision]:
        ops = [o for o in workload.get("ops", []) if o["op"] in CONTRACTIONS or o["uses"] > 1]
        ops = sorted(ops, key=lambda o: (-math.prod(o["shape"]), o["i"]))[:MAX_CUTS]
        return [
            Decision(
                op_name(PREFIX, o),
                "subgraph",
                "fusion",
                (None, True),
                None,
                f"no fusion across the output of {o['op']} {o['i']} ({o['uses']} uses)",
            )
            for o in sorted(ops, key=lambda o: o["i"])
        ]

    def apply(self, config: dict[str, Any], build: Any) -> None:
        for name, value in config.items():
            if name.startswith(PREFIX) and value:
                index, op, shape = parse_name(PREFIX, name)
                build.rewrite(index, op, shape, cut=True)
