"""TVM layout decisions: the data layout of the model's 2-D convolutions.

A graph-level choice for every conv2d (`layout:conv2d`: the model's NCHW, or NHWC data with
OHWI weights) and, for the largest convolutions, a choice of their own that overrides it
(`layout:conv2d:<data>:<weight>:s<strides>:g<groups>`; None follows the graph-level one).
Applied by Relax's ``ConvertLayout`` before fusion (autotune/backends/tvm/graph.py), so each
layout config has its own subgraphs; the weights are constants and their transposes fold at
build time.

Example::

    p = create("tvm-layout")
    p.apply({"layout:conv2d": "NHWC"}, build)       # build.conv_layout == "NHWC"
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
    """Graph-level conv2d layout, with per-convolution overrides for the largest."""

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
                    (None, *LAYOUTS),
                    None,
                    f"data layout of the conv2d {c['key']} (x{c['count']}); None: as every conv2d",
                )
            )
        return out

    def apply(self, config: dict[str, Any], build: Any) -> None:
        for name, value in config.items():
            if name == PREFIX:
                build.conv_layout = value
            elif name.startswith(PREFIX + ":") and value is not None:
                build.conv_layouts[name.removeprefix(PREFIX + ":")] = value
