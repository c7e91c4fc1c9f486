"""The backend extension point: one compiler (on one kind of device) as the tuning loop sees it.

A `Backend` resolves a target and describes it for the database, loads models, and opens a
`Session` for a job: the session finds a model's workloads (with stable fingerprints),
builds and measures candidates in isolation (a compiler crash is a failed candidate, never
a failed job), compares two configs interleaved with their outputs checked, and times the
whole model as the compile-time loader builds it. `Backend.compile` is that loader's path:
apply the database's best configs at compile time.

The composer (`autotune/tuning/`) only talks to this contract, so a third backend (a GPU
flavour, a remote device) registers here and needs no change in the driver or the CLI.
Every implementation runs the shared contract tests (tests/backends/test_contract.py).

Example::

    from autotune import backends
    be = backends.get("xla")
    target = be.resolve_target("cpu")
    with be.open(target, db, job_id=None) as session:
        model = session.load("mlp", be.load_model("mlp"))
        (w,) = session.workloads(model)
        print(session.measure(w, {}))             # Outcome(status='ok', samples=[...])
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from autotune.db.base import TuningDatabase
from autotune.db.records import TargetInfo
from autotune.errors import UserError
from autotune.registry import Registry


@dataclass
class Workload:
    """One unit the compiler schedules (a fused TIR subgraph, an XLA module) of a model."""

    fingerprint: str
    name: str
    ir: str  # plain text/JSON, as stored in the database
    meta: dict[str, Any]
    weight: int = 1  # how often the model runs it
    handle: Any = None  # the backend's own object (a MetaSchedule task, an XLA worker)
    compiler: str = ""  # its compiler name in the database, when not the backend's (graph workloads)


#: The database kind of a graph-level config (the configs of a `GraphHandle` workload).
GRAPH_KIND = "graph"


@dataclass
class GraphHandle:
    """The handle of a model's graph workload (`Session.graph_workload`): its configs are
    graph-level configs of the whole model. `prepare(config)`, set by the composer, runs before
    a config is built: it tunes the subgraphs that config has and no earlier one had."""

    model: Any
    prepare: Callable[[dict[str, Any]], None] | None = None


@dataclass
class Outcome:
    """One measured candidate: status (see autotune.db.records.STATUSES), seconds, error text."""

    status: str
    samples: list[float] = field(default_factory=list)
    error: str = ""


@dataclass
class Comparison:
    """A base and a candidate timed interleaved, the candidate's outputs checked; `status` is
    'ok' or why the candidate could not be compared (build_error, wrong_result, ...)."""

    status: str
    default: list[float] = field(default_factory=list)
    tuned: list[float] = field(default_factory=list)
    error: str = ""
    config: Any = None  # end_to_end: the config applied (None: several, one per workload)


@dataclass
class BaselineResult:
    """What a model's users run instead of the tuned build (PyTorch eager, torch.compile), timed
    interleaved with the tuned build round by round: `samples` are its seconds, `tuned` the
    tuned build's. `status` is 'ok', 'unavailable' (it cannot run here; `error` says why) or
    'wrong_result' (its outputs differ from the compiler default's)."""

    status: str
    samples: list[float] = field(default_factory=list)
    tuned: list[float] = field(default_factory=list)
    error: str = ""
    version: str = ""  # what was timed, e.g. 'torch 2.13.0'
    setup_s: float | None = None  # getting it ready (torch.compile's compile), seconds

    @property
    def speedup(self) -> float | None:
        """The median of paired baseline/tuned ratios: above 1, the tuned build is faster."""
        from autotune import compare

        return compare.paired_speedup(self.samples, self.tuned) if self.status == "ok" else None


@dataclass(frozen=True)
class Remote:
    """Devices that measure for a job from elsewhere, found through a tracker: TVM's RPC
    tracker at `host`:`port` (`python -m tvm.exec.rpc_tracker`), the devices registered with
    it under `key` (`python -m tvm.exec.rpc_server --tracker HOST:PORT --key KEY`)."""

    host: str
    port: int
    key: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class RayDevices:
    """Devices that measure for a job from elsewhere, found in a Ray cluster: the nodes of the
    cluster at `address` that offer the Ray resource `key` (`ray start --address HEAD
    --resources '{"KEY": 1}'`, one unit per device; a model measures on one unit at a time)."""

    address: str
    key: str


class DeviceLost(Exception):
    """The device a session measures on went away (a remote device) and none came back before
    the session's `deadline`: the model stops there, what was measured is committed already."""


@dataclass
class Timing:
    """Where a session's time went, in seconds (what it can tell apart)."""

    startup: float = 0.0  # worker processes started, models loaded
    compile: float = 0.0
    run: float = 0.0
    default: float = 0.0  # building and timing the compiler's default (not in compile or run)


class Session(abc.ABC):
    """A backend at work for one job on one target; `close` releases its workers."""

    #: When waiting for a device (a remote one that went away) gives up (a `time.time()`),
    #: raising `DeviceLost`; set by the job driver to the job's deadline. None: the session's own.
    deadline: float | None = None

    def __init__(self, backend: Backend, target: Any, db: TuningDatabase, job_id: int | None) -> None:
        self.backend, self.target, self.db, self.job_id = backend, target, db, job_id
        self.target_id = db.target_id(backend.describe(target))
        self.timing = Timing()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def load(self, source: str, model: Any) -> Any:
        """The model ready to find workloads in; `model` is what `Backend.load_model(source)`
        returned (a session may build its own from `source`, e.g. in a worker process)."""

    @abc.abstractmethod
    def workloads(self, model: Any, graph: dict[str, Any] | None = None) -> list[Workload]:
        """The model's workloads, in the order the compiler runs them, under a graph-level
        config (`graph_decisions`; None or {}: the compiler's own graph)."""

    def decisions(self, workload: Workload) -> list[Any]:
        """The graph-level decisions (autotune.passes) a config of this workload chooses; empty
        when the search owns the space itself (MetaSchedule traces)."""
        return []

    def graph_decisions(self, model: Any) -> list[Any]:
        """Decisions of the whole model, applied before it is split into workloads (TVM: conv
        layouts, ops kept out of fusion, operator forms), so each config of them has workloads
        of its own. Empty when the backend has none apart from its workloads' `decisions`."""
        return []

    def graph_fingerprint(self, model: Any) -> str | None:
        """The fingerprint `graph_workload` would have, found cheaply (no decisions worked
        out); None when the backend has no graph level."""
        return None

    def graph_workload(self, model: Any) -> Workload | None:
        """The model as one workload whose configs are `graph_decisions` configs (its handle a
        `GraphHandle`): `measure` and `compare` build the whole model under a config, with the
        database's best schedules for its subgraphs. None when there are no graph decisions."""
        return None

    def space(self, workload: Workload) -> tuple[list[Any], int]:
        """Every decision of a workload's own space, as `autotune space` lists it, and how many
        distinct configs they make (a search that owns its space, such as MetaSchedule's,
        describes its sampling decisions here)."""
        from autotune.passes import space_size

        decisions = self.decisions(workload)
        return decisions, space_size(decisions)

    def rebuild(self, row: dict[str, Any]) -> Workload | str:
        """A stored workload (a database row) ready to measure here, or why it cannot be: the
        way `autotune db verify` re-measures what another host measured."""
        return f"{self.backend.name} workloads cannot be rebuilt from the database"

    def floor(self, workload: Workload) -> float | None:
        """The least time the workload could take on this target, in seconds (its roofline
        at the vendor's measured peak, autotune.backends.roofline); None when unknown."""
        return None

    @abc.abstractmethod
    def measure(self, workload: Workload, config: Any) -> Outcome:
        """Build and time one config in isolation, as candidates are timed; `{}` is the default."""

    @abc.abstractmethod
    def compare(self, workload: Workload, base: Any, config: Any, rounds: int) -> Comparison:
        """`base` and `config` timed interleaved in one process, `config`'s outputs checked
        against the default's (autotune.compare's tolerance policy)."""

    @abc.abstractmethod
    def end_to_end(self, model: Any, rounds: int) -> Comparison:
        """The whole model built as `Backend.compile` builds it (the database's best applied,
        its best graph-level config included) vs the compiler's default build, interleaved,
        outputs checked."""

    def baselines(
        self, model: Any, rounds: int, names: Sequence[str] | None = None
    ) -> dict[str, BaselineResult]:
        """The `Backend.baselines` named (None: all) of a model, each timed interleaved with
        the tuned build (as `Backend.compile` builds it) for `rounds` rounds, its outputs
        checked against the compiler default's. {} where the backend has none: XLA's own
        default build already is what its users run."""
        return {}

    def where(self) -> str:
        """One line saying where this session measures, when not all of it in this process
        (a remote device: what runs there, what stays here, what is skipped); '' otherwise."""
        return ""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop worker processes."""


class Backend(abc.ABC):
    """One compiler on one kind of device: targets, models, sessions, compile-time apply."""

    #: Registry name; also the `compiler` of its workloads and targets in the database.
    name: str = ""
    #: The database kind of its non-default configs ("trace", "options").
    config_kind: str = ""
    #: Search strategies it can run (`search = ...` in a job file); the first is 'auto'.
    searches: tuple[str, ...] = ()
    #: Proposals a cost model ranks per measured candidate, unless the job sets `rank_pool`.
    rank_pool: int = 4
    #: Rounds of an interleaved confirmation (each round times both configs).
    confirm_rounds: int = 10
    #: The zoo family whose models it loads (autotune.zoo: PyTorch modules or JAX functions).
    zoo: str = ""
    #: What users run instead of the tuned build, name -> label (`Session.baselines`), e.g.
    #: {"torch": "PyTorch eager"}; a job's `baselines` key picks some (default: all).
    baselines: dict[str, str] = {}
    #: Those of `baselines` that cost a compile of their own (torch.compile): measured once per
    #: model, target and `baseline_version`, then read back; the others are re-timed with
    #: every end-to-end measurement.
    costly_baselines: tuple[str, ...] = ()
    #: How it measures on remote devices of a job's `device_key`, if it can: "tracker" (a TVM
    #: RPC tracker's devices, `Remote`) or "ray" (a Ray cluster's nodes, `RayDevices`).
    #: `resolve_remote` describes such a device, `open(..., remote=...)` measures there.
    remote_engine: str | None = None

    @abc.abstractmethod
    def resolve_target(self, spec: Any) -> Any:
        """The backend's target object for a job-file or CLI target; UserError when invalid."""

    def resolve_remote(self, spec: Any, remote: Remote | RayDevices) -> Any:
        """The target of a device of `remote` (asked for its CPU and cores where it is), with
        what `spec` sets itself kept; UserError when no such device answers."""
        raise UserError(f"{self.name} models cannot be measured on remote devices")

    @abc.abstractmethod
    def describe(self, target: Any) -> TargetInfo:
        """The database's description of a target: device, ISA, compiler and library versions."""

    @abc.abstractmethod
    def open(self, target: Any, db: TuningDatabase, job_id: int | None, **settings: Any) -> Session:
        """A session for one job on one target."""

    @abc.abstractmethod
    def compile(self, model: Any, target: Any, db: TuningDatabase | str | None) -> Any:
        """The compile-time loader's path: the model built with the database's best configs,
        compiler defaults wherever nothing is tuned or a config no longer applies."""

    def baseline_version(self, name: str) -> str:
        """What a baseline's measurement is valid for (e.g. 'torch 2.13.0'): a stored one of
        another version is measured again."""
        return ""

    def describe_config(self, config: Any) -> list[str]:
        """A config as readable decisions, e.g. ['opt:xla_cpu_prefer_vector_width=512']."""
        return [f"{k}={v}" for k, v in config.items()] if isinstance(config, dict) else [str(config)]

    def load_model(self, source: str) -> Any:
        """The zoo model of a name or `module:function` source; UserError when it cannot load."""
        from autotune import zoo

        try:
            return zoo.create(source, backend=self.zoo)
        except ValueError as exc:  # UnknownModelError and bad user functions
            raise UserError(str(exc)) from None


REGISTRY: Registry[type[Backend]] = Registry(
    "backend", {"tvm": "autotune.backends.tvm.backend", "xla": "autotune.backends.xla.backend"}
)
kinds = REGISTRY.kinds
register = REGISTRY.register
_INSTANCES: dict[str, Backend] = {}


def get(name: str) -> Backend:
    """The backend registered under `name` (one instance per process); UserError if unknown."""
    if name not in _INSTANCES:
        try:
            cls = REGISTRY.get(name)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        _INSTANCES[name] = cls()
    return _INSTANCES[name]


def names() -> Sequence[str]:
    """Known backend names, without importing any compiler."""
    return kinds()
