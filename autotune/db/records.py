"""Plain-data records that go in and come out of a tuning database.

Everything here is JSON-serialisable and validated when read back, so a database file
written by someone else can be read without trusting them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from autotune.compare import WIN_MARGIN, paired_speedup, wins

STATUSES = ("ok", "build_error", "run_error", "timeout", "wrong_result")
#: A baseline (what users run instead of the tuned build): timed, unable to run here, or wrong.
BASELINE_STATUSES = ("ok", "unavailable", "wrong_result")


class DatabaseError(Exception):
    """A database file that cannot be used: not SQLite, corrupt, too new, bad rows."""


def canonical_json(value: Any) -> str:
    """The one JSON text of a value: sorted keys, no spaces, so that hashes are stable."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def sha256(*parts: str) -> str:
    """Hex sha256 of the parts joined by newlines."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class TargetInfo:
    """What a measurement is valid for: the device and the software that compiled for it.

    Example::

        TargetInfo(kind="llvm", device_model="AMD EPYC 7B13", isa_features=("avx2",),
                   compiler="tvm", compiler_version="0.27.0", libraries={"llvm": "17"},
                   target_json={"kind": "llvm", "num-cores": 2})
    """

    kind: str
    device_model: str
    isa_features: tuple[str, ...]
    compiler: str
    compiler_version: str
    libraries: dict[str, str] = field(default_factory=dict)
    target_json: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "device_model": self.device_model,
            "isa_features": sorted(self.isa_features),
            "compiler": self.compiler,
            "compiler_version": self.compiler_version,
            "libraries": dict(sorted(self.libraries.items())),
            "target_json": self.target_json,
        }

    @property
    def key(self) -> str:
        """Content address of the target."""
        return sha256(canonical_json(self.as_dict()))

    @staticmethod
    def from_dict(d: dict[str, Any]) -> TargetInfo:
        return TargetInfo(
            kind=str(d["kind"]),
            device_model=str(d["device_model"]),
            isa_features=tuple(str(x) for x in d["isa_features"]),
            compiler=str(d["compiler"]),
            compiler_version=str(d["compiler_version"]),
            libraries={str(k): str(v) for k, v in dict(d["libraries"]).items()},
            target_json=dict(d["target_json"]),
        )


@dataclass(frozen=True)
class BestRecord:
    """One config of a workload on a target: a ranked candidate (`fastest`) or the best (`best`)."""

    config_id: int
    kind: str
    config: Any  # parsed JSON
    median: float
    samples: list[float]
    runs: int
    speedup: float | None = None  # for `best`: default over tuned median of its confirmation


@dataclass(frozen=True)
class Confirmation:
    """The latest interleaved comparison of a candidate against the default (same run)."""

    config_id: int
    kind: str
    config: Any
    median: float
    samples: list[float]
    default_median: float
    default_samples: list[float]
    #: Whether it makes its candidate the best (the `latest_confirmations` view's rule).
    is_best: bool = False

    @property
    def speedup(self) -> float:
        """The paired speedup of the comparison (autotune.compare.paired_speedup)."""
        return paired_speedup(self.default_samples, self.samples)

    def won(self, margin: float = WIN_MARGIN) -> bool:
        """Whether the candidate won it (the one rule of autotune.compare)."""
        return wins(self.default_samples, self.samples, margin)


def config_key(fingerprint: str, config_text: str) -> str:
    """Content address of a config of a workload."""
    return sha256(fingerprint, config_text)


def parse_samples(text: str) -> list[float]:
    """Validate a stored JSON list of seconds."""
    try:
        values = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise DatabaseError(f"bad samples JSON: {text[:60]!r}") from exc
    if not isinstance(values, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in values
    ):
        raise DatabaseError(f"bad samples: {text[:60]!r}")
    return [float(v) for v in values]


def parse_json(text: str, what: str) -> Any:
    """Parse stored JSON or raise a DatabaseError naming what it was."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise DatabaseError(f"bad {what} JSON: {str(text)[:60]!r}") from exc


def summarize(samples: list[float]) -> tuple[float | None, float | None]:
    """Median and relative spread of a list of seconds."""
    if not samples:
        return None, None
    s = sorted(samples)
    n = len(s)
    med = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    spread = (s[-1] - s[0]) / med if med > 0 else 0.0
    return med, spread


def baseline_numbers(
    status: str, samples: list[float], tuned: list[float]
) -> tuple[float | None, float | None, float | None]:
    """(median, tuned median, paired speedup) of a baseline, from its samples alone; ValueError
    for an unknown status or an 'ok' without positive samples paired with the tuned build's."""
    if status not in BASELINE_STATUSES:
        raise ValueError(f"unknown baseline status {status!r}")
    if status != "ok":
        return None, None, None
    if not samples or len(samples) != len(tuned) or min(samples + tuned) <= 0:
        raise ValueError("an 'ok' baseline needs positive samples, as many as the tuned build's")
    return summarize(samples)[0], summarize(tuned)[0], paired_speedup(samples, tuned)
