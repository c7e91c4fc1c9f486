"""TVM code-generation decisions: numerics-relaxing rewrites of the model's operators.

`codegen:gelu`: GELU as the model wrote it (the erf form) or as its tanh approximation
(``R.nn.gelu_tanh``, max. deviation ~5e-4 of the erf form), offered only when the model has
a GELU. A config that uses it is measured like any other, and only kept when the model's
outputs pass the output check against the default build (autotune.compare's tolerance).

Example::

    p = create("tvm-codegen")
    p.apply({"codegen:gelu": "tanh"}, build)        # build.gelu == "tanh"
"""

from __future__ import annotations

from typing import Any

from autotune.passes.base import Decision, Pass, register

GELU = "codegen:gelu"


@register("tvm-codegen")
class TvmCodegenPass(Pass):
    """Cheaper forms of transcendental ops, checked by the numerics guard."""

    backend = "tvm"
    kind = "codegen"

    def decisions(self, workload: dict[str, Any]) -> list[Decision]:
        if not workload.get("gelu"):
            return []
        return [Decision(GELU, "graph", "codegen", ("erf", "tanh"), "erf", "GELU form (tanh: approximation)")]

    def apply(self, config: dict[str, Any], build: Any) -> None:
        if GELU in config:
            build.gelu = config[GELU]
