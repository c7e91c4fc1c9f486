"""XLA code-generation decisions: vector width, optimization preset and level, scheduler, fast math.

The options offered are those of `xla_options.RULES` with kind 'codegen' that the installed
jaxlib accepts. Fast-math-like choices are offered too; the numerics check of every
candidate keeps them out of the best configs when they change results.

Example::

    p = create("xla-codegen")
    [d.name for d in p.decisions(info)]   # ['opt:xla_backend_optimization_level', ...]
"""

from __future__ import annotations

from typing import Any

from autotune.passes.base import Decision, Pass, register
from autotune.passes.xla_options import option_decisions, rule_for


@register("xla-codegen")
class XlaCodegenPass(Pass):
    """Graph-level code-generation options of XLA's CPU/GPU backends."""

    backend = "xla"
    kind = "codegen"

    def decisions(self, workload: dict[str, Any]) -> list[Decision]:
        return option_decisions(self.kind, workload.get("options", {}))

    def apply(self, config: dict[str, Any], build: Any) -> None:
        for name, value in config.items():
            rule = rule_for(name.removeprefix("opt:")) if name.startswith("opt:") else None
            if rule is not None and rule.kind == self.kind:
                build.options[name.removeprefix("opt:")] = value
