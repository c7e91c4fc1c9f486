"""TVM layout decisions: the data layout of the model's 2-D convolutions.

A graph-level choice for every conv2d (`layout:conv2d`: the model's NCHW, or NHWC data with
OHWI weights) and, for the largest convolutions, a subgraph-level one that flips it for that
convolution alone (`layout:conv2d:<data>:<weight>:s<strides>:g<groups>`: True takes the other
layout), so that no two configs build the same model.
Applied by Relax's ``ConvertLayout`` before fusion (autotune/backends/tvm/graph.py), so each
layout config has its own subgraphs; the weights are constants and their transposes fold at
build time.

Example::

    p = create("tvm-layout")
    p.apply({"layout:conv2d": "NHWC"}, build)       # build.conv_layout == "NHWC"
    p.apply({"layout:conv2d:1x64x56x56:64x64x3x3:s1x1:g1": True}, build)   # that one NCHW
"""

from __future__ import annotations

from typing import Any

from autotune.passes.base import Decision, Pass, register

LAYOUTS = ("NCHW", "NHWC")
#: Convolutions (largest first, by multiply-adds) that get a decision of their own.
MAX_CONV_DECISIONS = 4
PREFIX = "layout:conv2d"


@register("tvm-layout")
class TvmLayoutPass(Pass):
    """Graph-level conv2d layout, with per-convolution flips for the largest."""

    backend = "tvm"
    kind = "layout"

    def decisions(self, workload: dict[str, Any]) -> list[Decision]:
        convs = workload.get("convs", [])
        if not convs:
            return []
        out = [Decision(PREFIX, "graph", "layout", LAYOUTS, "NCHW", "data layout of every conv2d")]
        largest = sorted(convs, key=lambda c: (-c["macs"] * c["count"], c["key"]))[:MAX_CONV_DECISIONS]
        for c in largest:
            out.append(
                Decision(
                    f"{PREFIX}:{c['key']}",
                    "subgraph",
                    "layout",
                    (False, True),
                    False,
                    f"the conv2d {c['key']} (x{c['count']}) in the layout other than {PREFIX}'s",
                )
            )
        return out

    def apply(self, config: dict[str, Any], build: Any) -> None:
        build.conv_layout = config.get(PREFIX, build.conv_layout)
        (other,) = [x for x in LAYOUTS if x != build.conv_layout]
        for name, value in config.items():
            if name.startswith(PREFIX + ":") and value is True:
                build.conv_layouts[name.removeprefix(PREFIX + ":")] = other
