"""XLA as a backend: a JAX function is one workload, a config is one choice per graph-level
decision of the XLA passes (layouts, fusion and library choices, disabled HLO passes,
codegen options).

Every candidate is compiled and run in an isolated worker process per model (some option
combinations abort the process that compiles them), its outputs checked against XLA's
default's; comparisons run in the same worker, interleaved.

Example::

    be = backends.get("xla")
    with be.open(be.resolve_target("cpu"), db, job_id=None) as s:
        model = s.load("mlp", None)
        (w,) = s.workloads(model)
        print(s.compare(w, {}, {"opt:xla_cpu_prefer_vector_width": 512}, rounds=10))
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from autotune.backends.base import Backend, Comparison, Outcome, RayDevices, Session, Workload, register
from autotune.backends.xla.workload import META_KEYS
from autotune.db.base import TuningDatabase
from autotune.db.records import STATUSES, TargetInfo
from autotune.errors import UserError


def decisions_for(info: dict[str, Any]) -> list[Any]:
    """Every graph-level decision the XLA passes offer for a workload."""
    from autotune import passes
    from autotune.backends.xla.build import XLA_PASSES

    return [d for name in XLA_PASSES for d in passes.create(name).decisions(info)]


@register("xla")
class XlaBackend(Backend):
    """XLA through JAX, on this CPU ('cpu') or a GPU ('gpu')."""

    config_kind = "options"
    searches = ("auto", "exhaustive", "random", "tpe")
    rank_pool = 4
    confirm_rounds = 20
    zoo = "xla"
    remote_engine = "ray"

    def resolve_target(self, spec: Any) -> str:
        from autotune.backends.xla.workload import resolve_platform

        platform = resolve_platform(spec)
        if platform == "gpu":
            import jax

            try:
                jax.devices("gpu")
            except RuntimeError:
                raise UserError(f"XLA target {spec!r}: JAX sees no GPU on this machine") from None
        return platform

    def resolve_remote(self, spec: Any, remote: RayDevices) -> Any:
        """The platform of `spec` on the Ray cluster's nodes that offer `remote.key`, described
        there (autotune/backends/xla/remote.py)."""
        from autotune.backends.xla.remote import describe_device
        from autotune.backends.xla.workload import resolve_platform

        return describe_device(resolve_platform(spec), remote)

    def describe(self, target: Any) -> TargetInfo:
        from autotune.backends.xla.workload import target_info

        return target.info if hasattr(target, "info") else target_info(target)

    def open(self, target: Any, db: TuningDatabase, job_id: int | None, **settings: Any) -> XlaSession:
        return XlaSession(self, target, db, job_id, **settings)

    def compile(self, model: Any, target: Any, db: TuningDatabase | str | None) -> Any:
        """`model` is a JAX function; the result is `autotune.jax.jit(model, db=db)`."""
        from autotune.backends.xla.loader import TunedFunction

        path = getattr(db, "path", db)
        return TunedFunction(model, str(path) if path else None, {})


class XlaSession(Session):
    """One isolated worker per model (restarted when it dies), in a private temporary folder;
    with `remote` (a `RemoteTarget` as the target), on a device of the Ray cluster."""

    def __init__(
        self,
        backend: Backend,
        target: Any,
        db: TuningDatabase,
        job_id: int | None,
        timeout_s: float = 120.0,
        repeat: int = 15,
        remote: RayDevices | None = None,
    ) -> None:
        super().__init__(backend, target, db, job_id)
        self.timeout_s, self.repeat = timeout_s, repeat
        self.platform = getattr(target, "platform", target)
        self.remote = remote if hasattr(target, "info") else None
        self._tmp = tempfile.TemporaryDirectory(prefix="autotune-xla-")
        self._workers: list[Any] = []

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        self._workers.clear()
        self._tmp.cleanup()

    def load(self, source: str, model: Any) -> Any:
        """The model's worker: it builds the function from `source` itself, lowers it and
        compiles it with XLA's defaults (`model` is not needed in this process)."""
        from autotune.backends.xla.runner import IsolatedWorker
        from autotune.passes import xla_options

        tmp = Path(self._tmp.name)
        if self.remote is not None:
            from autotune.backends.xla.remote import RayWorker

            worker = RayWorker(source, self.target, self.timeout_s, self.deadline)
        else:
            worker = IsolatedWorker(
                source,
                self.platform,
                xla_options.available(),
                tmp / f"{len(self._workers)}-ref.npz",
                self.timeout_s,
                log_path=tmp / "worker.log",
            )
        self._workers.append(worker)
        self.timing.startup += worker.startup_s
        return worker

    def where(self) -> str:
        if self.remote is None:
            return ""
        return (
            f"measuring on the Ray cluster at {self.remote.address}, nodes that offer "
            f"{self.remote.key!r} (described by {self.target.node}: {self.target.info.device_model})"
        )

    def workloads(self, model: Any, graph: dict[str, Any] | None = None) -> list[Workload]:
        info = model.info
        return [
            Workload(
                info["fingerprint"], info["name"], info["hlo"], {k: info[k] for k in META_KEYS}, 1, model
            )
        ]

    def decisions(self, workload: Workload) -> list[Any]:
        return decisions_for(workload.meta)

    def rebuild(self, row: dict[str, Any]) -> Workload | str:
        """The workload of a bundled model that has it (the function is code: only the zoo's
        own models are rebuilt, never a `module:function` named by a database)."""
        from autotune import zoo

        bundled = set(zoo.names(self.backend.zoo))
        for m in self.db.models():
            source = m["source"]
            if m["compiler"] != self.backend.name or ":" in source:
                continue
            if source not in bundled and not source.startswith(zoo.OP_PREFIX):
                continue
            model = self.db.model(m["name"], m["compiler"])
            if model is None or row["id"] not in [w["id"] for w, _ in model["workloads"]]:
                continue
            for w in self.workloads(self.load(source, None)):
                if w.fingerprint == row["fingerprint"]:
                    return w
        return "no bundled model holds it (a user's model is verified by tuning it here)"

    def _request(self, workload: Workload, msg: dict[str, Any]) -> dict[str, Any]:
        worker = workload.handle
        started = worker.startup_s
        r = worker.request(msg, self.timeout_s)
        self.timing.startup += worker.startup_s - started  # a restart after a crash
        self.timing.compile += float(r.get("compile_s", 0.0))
        self.timing.run += float(r.get("run_s", 0.0))
        return r

    def measure(self, workload: Workload, config: Any) -> Outcome:
        r = self._request(workload, {"op": "measure", "config": config, "repeat": self.repeat})
        status = _status(r)
        return Outcome(status, list(r.get("samples", [])) if status == "ok" else [], str(r.get("error", "")))

    def compare(self, workload: Workload, base: Any, config: Any, rounds: int) -> Comparison:
        r = self._request(workload, {"op": "compare", "configs": [base, config], "rounds": rounds})
        if r.get("status") != "ok":
            return Comparison(_status(r), error=str(r.get("error", "")))
        return Comparison("ok", r["samples"][0], r["samples"][1])

    def end_to_end(self, model: Any, rounds: int) -> Comparison:
        (w,) = self.workloads(model)
        best = self.db.best_for(w.fingerprint, self.target_id)
        config = best.config if best else {}
        c = self.compare(w, {}, config, rounds)
        c.config = config
        return c


def _status(reply: dict[str, Any]) -> str:
    """A worker reply's status as the database names it ('error' is a run error)."""
    s = reply.get("status", "run_error")
    return s if s in STATUSES else "run_error"
