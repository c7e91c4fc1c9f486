"""The decision extension point: what may be chosen for a workload, and how a choice is applied.

A `Decision` is one knob of the compiler (a layout, a fusion choice, a code-generation
option) with its choices; a config is a plain dict ``{decision name: choice}`` holding only
the choices that differ from the default, so the default config is ``{}`` and every config
is readable JSON in the database. A `Pass` enumerates the decisions of one kind for a
workload and applies chosen values to a backend's build description.

Example::

    from autotune.passes import create
    layout = create("xla-layout")
    decisions = layout.decisions(workload_info)      # [Decision("layout:in:0", ...), ...]
    layout.apply({"layout:in:0": "transposed"}, build)
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from autotune.registry import Registry

LEVELS = ("graph", "subgraph")
KINDS = ("layout", "fusion", "tile", "codegen")


@dataclass(frozen=True)
class Decision:
    """One compiler decision: its choices (JSON values) and which of them is the default.

    Example::

        Decision("opt:xla_cpu_prefer_vector_width", "graph", "codegen", (None, 128, 256, 512))
    """

    name: str
    level: str
    kind: str
    choices: tuple[Any, ...]
    default: Any = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"decision {self.name}: level must be one of {LEVELS}")
        if self.kind not in KINDS:
            raise ValueError(f"decision {self.name}: kind must be one of {KINDS}")
        if self.default not in self.choices:
            raise ValueError(f"decision {self.name}: default {self.default!r} is not a choice")


def space_size(decisions: Sequence[Decision]) -> int:
    """Number of distinct configs of a set of decisions."""
    n = 1
    for d in decisions:
        n *= len(d.choices)
    return n


def normalize(config: dict[str, Any], decisions: Sequence[Decision]) -> dict[str, Any]:
    """A config with default choices dropped; raises ValueError on an unknown name or choice."""
    by_name = {d.name: d for d in decisions}
    out = {}
    for name, value in config.items():
        d = by_name.get(name)
        if d is None:
            raise ValueError(f"unknown decision {name!r}")
        if value not in d.choices:
            raise ValueError(f"decision {name!r} has no choice {value!r}")
        if value != d.default:
            out[name] = value
    return dict(sorted(out.items()))


class Pass(abc.ABC):
    """Enumerates the decisions of one kind for a workload and applies chosen values."""

    #: Registry name, e.g. "xla-layout".
    name: str = ""
    #: The backend whose builds this pass changes ("xla" or "tvm").
    backend: str = ""

    @abc.abstractmethod
    def decisions(self, workload: dict[str, Any]) -> list[Decision]:
        """The decisions this pass offers for a workload (described by its info dict)."""

    @abc.abstractmethod
    def apply(self, config: dict[str, Any], build: Any) -> None:
        """Apply the entries of `config` that belong to this pass to a backend build spec.

        `config` has been validated against the decisions (see `normalize`); entries of
        other passes are left alone.
        """


REGISTRY: Registry[type[Pass]] = Registry(
    "pass",
    {
        "xla-layout": "autotune.passes.xla_layout",
        "xla-fusion": "autotune.passes.xla_fusion",
        "xla-codegen": "autotune.passes.xla_codegen",
        "xla-tensor-layout": "autotune.passes.xla_tensor_layout",
        "xla-fusion-cut": "autotune.passes.xla_fusion_cut",
        "tvm-layout": "autotune.passes.tvm_layout",
        "tvm-fusion": "autotune.passes.tvm_fusion",
        "tvm-codegen": "autotune.passes.tvm_codegen",
    },
)
register = REGISTRY.register


def kinds(backend: str | None = None) -> list[str]:
    """Names of the known passes, optionally of one backend only."""
    return sorted(n for n, c in REGISTRY.classes().items() if backend is None or c.backend == backend)


def create(name: str, **kwargs: Any) -> Pass:
    """A pass by name, e.g. create("xla-codegen")."""
    return REGISTRY.create(name, **kwargs)
