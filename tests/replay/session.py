"""A backend that replays recorded measurements: the search, the composer and cost models
run against real outcomes (tests/replay/*.json, made by record.py) without compiling.

`ReplayBackend` is the XLA backend with a session that answers from the recording, so
everything above the backend contract (ModelTuner, confirmation, end to end, the database,
the cost model's featurizer) is the real code. A config outside the recorded space is a
test bug and raises.

Example::

    be = ReplayBackend("xla-mlp")
    with open_db(path) as db, be.open(None, db, None) as s:
        tuner = ModelTuner(be, s, db, None, Settings(search="tpe", cost_model="none"))
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from autotune.backends.base import Comparison, Outcome, Session, Workload
from autotune.backends.xla.backend import XlaBackend
from autotune.db.records import TargetInfo, canonical_json
from autotune.passes.base import Decision, normalize

HERE = Path(__file__).resolve().parent


def load(name: str) -> dict[str, Any]:
    return json.loads((HERE / f"{name}.json").read_text())


class ReplayBackend(XlaBackend):
    """XLA, measured by a recording (the target says so: it never mixes with this host's)."""

    def __init__(self, recording: str = "xla-mlp") -> None:
        self.data = load(recording)

    def resolve_target(self, spec: Any) -> str:
        return "replay"

    def describe(self, target: Any) -> TargetInfo:
        t = self.data["recorded"]["target"]
        return TargetInfo.from_dict(t | {"kind": "replay", "device_model": f"replay of {t['device_model']}"})

    def open(self, target: Any, db: Any, job_id: int | None, **settings: Any) -> ReplaySession:
        return ReplaySession(self, target, db, job_id)


class ReplaySession(Session):
    """Answers measure/compare/end_to_end from the recorded outcomes; counts what it was asked."""

    def __init__(self, backend: ReplayBackend, target: Any, db: Any, job_id: int | None) -> None:
        super().__init__(backend, target, db, job_id)
        data = backend.data
        self.decision_list = [
            Decision(d["name"], d["level"], d["kind"], tuple(d["choices"]), d["default"])
            for d in data["decisions"]
        ]
        self.outcomes = {canonical_json(o["config"]): o for o in data["outcomes"]}
        self.measured: list[dict[str, Any]] = []

    def _outcome(self, config: Any) -> dict[str, Any]:
        return self.outcomes[canonical_json(normalize(config, self.decision_list))]

    def load(self, source: str, model: Any) -> dict[str, Any]:
        return self.backend.data["workload"]

    def workloads(self, model: Any, graph: dict[str, Any] | None = None) -> list[Workload]:
        return [Workload(model["fingerprint"], model["name"], model["ir"], model["meta"], 1, model)]

    def rebuild(self, row: dict[str, Any]) -> Workload | str:
        w = self.workloads(self.backend.data["workload"])[0]
        return w if w.fingerprint == row["fingerprint"] else "not in the recording"

    def decisions(self, workload: Workload) -> list[Decision]:
        return list(self.decision_list)

    def measure(self, workload: Workload, config: Any) -> Outcome:
        self.measured.append(config)
        o = self._outcome(config)
        return Outcome(o["status"], list(o["samples"]), o["error"])

    def compare(self, workload: Workload, base: Any, config: Any, rounds: int) -> Comparison:
        a, b = self._outcome(base), self._outcome(config)
        if b["status"] != "ok":
            return Comparison(b["status"], error=b["error"])
        n = len(a["samples"])
        return Comparison(
            "ok",
            [a["samples"][i % n] for i in range(rounds)],
            [b["samples"][i % len(b["samples"])] for i in range(rounds)],
        )

    def end_to_end(self, model: Any, rounds: int) -> Comparison:
        best = self.db.best_for(model["fingerprint"], self.target_id)
        config = best.config if best else {}
        c = self.compare(self.workloads(model)[0], {}, config, rounds)
        c.config = config
        return c

    def median(self, config: Any) -> float:
        """The recorded median of a config (what a perfect search would see)."""
        return statistics.median(self._outcome(config)["samples"])
