"""TVM fusion decisions: which ops FuseOps may fuse into the kernels around them.

For the ops that make a fused kernel hard to schedule (transcendental or reducing epilogues:
GELU, SiLU, softmax, layer norm, ...; `graph.APART_OPS`), the largest by output size get
`fusion:apart:<op>:<shape>`: True keeps each such op in a kernel of its own (marked opaque
after ``AnnotateTIROpPattern``), so the contraction before it is tuned without it. Applied
before task extraction, so each fusion config has its own subgraph set.

Example::

    p = create("tvm-fusion")
    p.apply({"fusion:apart:gelu:1x32x128": True}, build)   # build.apart == {"gelu:1x32x128"}
"""

from __future__ import annotations

from typing import Any

from autotune.passes.base import Decision, Pass, register

MAX_APART_DECISIONS = 4
PREFIX = "fusion:apart"


@register("tvm-fusion")
class TvmFusionPass(Pass):
    """Keep chosen ops out of fusion (subgraph level: each changes the kernels around it)."""

    backend = "tvm"
    kind = "fusion"

    def decisions(self, workload: dict[str, Any]) -> list[Decision]:
        ops = sorted(workload.get("ops", []), key=lambda o: (-o["elements"] * o["count"], o["key"]))
        return [
            Decision(
                f"{PREFIX}:{o['key']}",
                "subgraph",
                "fusion",
                (False, True),
                False,
                f"keep {o['key']} (x{o['count']}) out of the kernels around it",
            )
            for o in ops[:MAX_APART_DECISIONS]
        ]

    def apply(self, config: dict[str, Any], build: Any) -> None:
        for name, value in config.items():
            if name.startswith(PREFIX + ":") and value:
                build.apart.add(name.removeprefix(PREFIX + ":"))
