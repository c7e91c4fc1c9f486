"""XLA subgraph-level layouts: the physical layout of chosen intermediate tensors.

Which tensors: the operands and results of the program's contractions (dot, convolution),
largest first, from the traced program's equations (`rewrite.program_ops`, kept in the
workload info). Choices: XLA's own layout (the default), `transposed` (the two minor-most
dimensions swapped) and, for rank-4 tensors, `channels-major` (an NHWC tensor stored as
NCHW). Applied as `with_layout_constraint` on the equation's output in the rewritten jaxpr
(autotune/backends/xla/rewrite.py); a decision names the equation by position, primitive
and shape, so a changed program is detected, not silently mis-tuned.

Example::

    p = create("xla-tensor-layout")
    p.apply({"tensor:29:dot_general:2x4x64x64": "transposed"}, build)   # build.rewrites[29]
"""

from __future__ import annotations

import math
from typing import Any

from autotune.passes.base import Decision, Pass, register
from autotune.passes.xla_layout import major_to_minor

PREFIX = "tensor:"
MAX_TENSORS = 6
CONTRACTIONS = ("dot_general", "conv_general_dilated")


def op_name(prefix: str, op: dict[str, Any]) -> str:
    """The decision name of one equation: prefix, index, primitive and shape."""
    return f"{prefix}{op['i']}:{op['op']}:{'x'.join(map(str, op['shape']))}"


def parse_name(prefix: str, name: str) -> tuple[int, str, tuple[int, ...]]:
    """(equation index, primitive, shape) from a decision name made by `op_name`."""
    index, op, shape = name.removeprefix(prefix).split(":")
    return int(index), op, tuple(int(d) for d in shape.split("x"))


def order(rank: int, choice: str) -> tuple[int, ...]:
    """The `major_to_minor` of a layout choice."""
    if choice == "channels-major":
        return (0, 3, 1, 2)
    return major_to_minor(rank, choice)


@register("xla-tensor-layout")
class XlaTensorLayoutPass(Pass):
    """Layouts of the tensors around the contractions, inside the program."""

    backend = "xla"
    kind = "layout"

    def decisions(self, workload: dict[str, Any]) -> list[Decision]:
        ops = [o for o in workload.get("ops", []) if o["op"] in CONTRACTIONS or o["feeds"]]
        ops = sorted(ops, key=lambda o: (-math.prod(o["shape"]), o["i"]))[:MAX_TENSORS]
        out = []
        for o in sorted(ops, key=lambda o: o["i"]):
            choices = (None, "transposed") + (("channels-major",) if len(o["shape"]) == 4 else ())
            role = "result of" if o["op"] in CONTRACTIONS else "operand of " + "/".join(o["feeds"]) + ", from"
            out.append(
                Decision(
                    op_name(PREFIX, o), "subgraph", "layout", choices, None, f"{role} {o['op']} {o['i']}"
                )
            )
        return out

    def apply(self, config: dict[str, Any], build: Any) -> None:
        for name, value in config.items():
            if name.startswith(PREFIX) and value is not None:
                index, op, shape = parse_name(PREFIX, name)
                build.rewrite(index, op, shape, layout=order(len(shape), value))
