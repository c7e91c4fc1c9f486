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
from autotune.passes.xla_options import option_decisions, rule_for

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
        for name, value in config.items():
            if name.startswith("disable:") and value:
                build.disabled_passes.append(name.removeprefix("disable:"))
            elif name.startswith("opt:"):
                rule = rule_for(name.removeprefix("opt:"))
                if rule is not None and rule.kind == self.kind:
                    build.options[name.removeprefix("opt:")] = value
