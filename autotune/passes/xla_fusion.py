"""XLA fusion and library decisions: which ops go to XNNPACK / oneDNN / YNNPACK, fusion
emitters, and turning off HLO passes that change this workload.

Library fusion types and emitters come from `xla_options.RULES` (kind 'fusion') and the
installed jaxlib. The passes that may be disabled are the ones XLA actually ran with an
effect on this workload (read from a compile with `xla_dump_hlo_pass_re`), minus the
passes that compilation cannot do without.

Example::

    p = create("xla-fusion")
    p.apply({"disable:dot-library-rewriter": True}, build)   # build.disabled_passes
"""

from __future__ import annotations

from typing import Any

from autotune.passes.base import Decision, Pass, register
from autotune.passes.xla_options import option_decisions

#: Passes that must run (layouts, copies, scheduling plumbing) or only move metadata.
ESSENTIAL = (
    "pipeline-start",
    "pipeline-end",
    "layout-assignment",
    "copy-insertion",
    "sub-byte-size-setter",
    "flatten-call-graph",
    "strip-memory-placement-annotations",
    "async-collective-replacer",
    "shape-canonicalizer",
    "literal-canonicalizer",
    "apply-xla-transforms",
    "batched_gather_scatter_normalizer",
)
MAX_PASS_DECISIONS = 8


@register("xla-fusion")
class XlaFusionPass(Pass):
    """Graph-level fusion and library choices, and HLO passes that may be switched off."""

    backend = "xla"
    kind = "fusion"

    def decisions(self, workload: dict[str, Any]) -> list[Decision]:
        out = option_decisions(self.kind, workload.get("options", {}))
        passes = [p for p in workload.get("changed_passes", []) if p not in ESSENTIAL]
        for name in passes[:MAX_PASS_DECISIONS]:
            out.append(
                Decision(f"disable:{name}", "graph", "fusion", (None, True), None, f"skip HLO pass {name}")
            )
        return out

    def apply(self, config: dict[str, Any], build: Any) -> None:
        for d in self.decisions(build.workload):
            if d.name not in config:
                continue
            if d.name.startswith("disable:"):
                build.disabled_passes.append(d.name.removeprefix("disable:"))
            else:
                build.options[d.name.removeprefix("opt:")] = config[d.name]
