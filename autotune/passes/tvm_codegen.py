"""TVM code-generation decisions: numerics-relaxing rewrites of the model's operators.

- `codegen:gelu`: GELU as the model wrote it (the erf form, whose erf TVM's LLVM backend
  calls per element), as its tanh approximation (``R.nn.gelu_tanh``, max. deviation ~5e-4
  of the erf form), or in the erf form with TOPI's ``fast_erf`` (a rational approximation,
  ~1e-7 of erf, that vectorizes: 6x faster on a 64x128 GELU here); offered when the model
  has a GELU.
- `codegen:softmax`: softmax exact, or TOPI's ``fast_softmax`` (``fast_exp``; ~3e-7 of it,
  3x faster on a 3x64x64 softmax here); offered when the model has a softmax.

A config that uses them is measured like any other, and only kept when the model's outputs
pass the output check against the default build (autotune.compare's tolerance).

Example::

    p = create("tvm-codegen")
    p.apply({"codegen:gelu": "fast-erf"}, build)    # build.gelu == "fast-erf"
"""

from __future__ import annotations

from typing import Any

from autotune.passes.base import Decision, Pass, register

GELU = "codegen:gelu"
SOFTMAX = "codegen:softmax"


@register("tvm-codegen")
class TvmCodegenPass(Pass):
    """Cheaper forms of transcendental ops, checked by the numerics guard."""

    backend = "tvm"
    kind = "codegen"

    def decisions(self, workload: dict[str, Any]) -> list[Decision]:
        out = []
        if workload.get("gelu"):
            forms = ("erf", "tanh", "fast-erf")
            out.append(
                Decision(GELU, "graph", "codegen", forms, "erf", "GELU form (tanh, fast-erf: approximations)")
            )
        if workload.get("softmax"):
            forms = ("exact", "fast")
            out.append(Decision(SOFTMAX, "graph", "codegen", forms, "exact", "softmax (fast: fast_exp)"))
        return out

    def apply(self, config: dict[str, Any], build: Any) -> None:
        if GELU in config:
            build.gelu = config[GELU]
        if SOFTMAX in config:
            build.softmax = config[SOFTMAX]
