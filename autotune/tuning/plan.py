"""The state the steps of tuning one model share: the job's settings, the context every step
works in (backend session, database, recorder, cost model), and the model's plan.

Example::

    ctx = Context(backend, session, Recorder(db, tid, job_id, "options"), Settings(), None)
    plan = ModelPlan("mlp", "mlp", model, model_id, [WorkloadState(w, wid, [])])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autotune.backends.base import Backend, Session, Workload
from autotune.db.base import TuningDatabase
from autotune.db.recorder import Recorder

OnOutcome = Callable[[int, str, "float | None"], None]


@dataclass
class Settings:
    """How a job tunes (the job file's keys, validated there)."""

    search: str = "auto"
    trials_per_iter: int = 16
    cost_model: str = "pretrained"  # 'pretrained', 'none' or a checkpoint path
    rank_pool: int | None = None  # proposals ranked per measured trial; None: the backend's default
    seed: int | None = None
    warmup: int = 4  # graph searches: trials measured as proposed before the cost model ranks
    baselines: tuple[str, ...] | None = None  # of `Backend.baselines` to time; None: all of them
    first_pass: float = 0.5  # of a model's budget, spread by default time; the rest by expected gain
    graph_trials: int = 0  # graph-level configs of a model measured by the joint search (0: none)
    levels: tuple[str, ...] = ("graph", "subgraph")  # of the passes' decisions, those searched
    #: Measures the joint search's graph-level configs in batches elsewhere (autotune/tuning/
    #: fanout.py: Ray tasks), `bind(tuner, plan, force)` giving a `graph_loop.MeasureMany`;
    #: None: here, one at a time.
    graph_tasks: Any = None


@dataclass
class WorkloadState:
    """One workload of a model and its tuning state in this job."""

    workload: Workload
    workload_id: int
    decisions: list[Any]  # graph-level decisions; empty when the search owns the space
    default_s: float = math.nan
    trials: int = 0  # allotted by this job (a total: what it had before, when forced, included)
    done: int = 0  # measured so far (all jobs)
    base: int = 0  # measured before this job, when it is forced (else 0): not this job's budget
    fixed: bool = False  # its schedule space is small and fixed: it gets exactly its size

    @property
    def name(self) -> str:
        return self.workload.name


@dataclass
class Profile:
    """Where a model's tuning time went, in seconds (`ours` = everything else)."""

    total: float = 0.0
    startup: float = 0.0
    compile: float = 0.0
    run: float = 0.0
    costmodel: float = 0.0  # featurizing and ranking proposals, online updates
    ranked: int = 0  # proposals the cost model scored
    baselines: float = 0.0  # timing what users run instead (PyTorch eager, torch.compile)
    default: float = 0.0  # building and timing the compiler's default, the reference of every win
    tasks: float = 0.0  # waiting for graph-level configs measured as Ray tasks (their own time)

    @property
    def ours(self) -> float:
        spent = self.startup + self.compile + self.run + self.costmodel + self.baselines + self.default
        return max(0.0, self.total - spent - self.tasks)

    def as_dict(self) -> dict[str, float]:
        return {
            "total_s": self.total,
            "worker_startup_s": self.startup,
            "compile_s": self.compile,
            "run_s": self.run,
            "costmodel_s": self.costmodel,
            "ranked": self.ranked,
            "baselines_s": self.baselines,
            "default_s": self.default,
            "tasks_s": self.tasks,
            "ours_s": self.ours,
        }


@dataclass
class GainShare:
    """Trials the gain pass gave one workload, and what they saved: seconds per model run
    (weight x (best before the pass - best after))."""

    name: str
    trials: int
    saved_s: float


@dataclass
class ModelPlan:
    name: str
    source: str
    model: Any  # the backend's loaded model
    model_id: int
    workloads: list[WorkloadState] = field(default_factory=list)
    profile: Profile = field(default_factory=Profile)
    budget: int = 0  # this job's trials for the workloads whose spaces are not fixed
    first: int = 0  # of them, spread by default time (the first pass)
    by_gain: list[GainShare] = field(default_factory=list)  # the rest, as the gain pass gave it
    todo: list[WorkloadState] = field(default_factory=list)  # the first pass's (`pending`)
    finished: set[int] = field(default_factory=set)  # workload ids searched and confirmed
    graph: WorkloadState | None = None  # the model's graph workload (joint search), if any
    graph_subgraphs: list[WorkloadState] = field(default_factory=list)  # of graph configs, not the default's
    graph_workloads: dict[str, list[Workload]] = field(default_factory=dict)  # config JSON -> its subgraphs
    graph_ranked: int = 0  # graph-level configs the composition cost model scored in this job
    graph_elsewhere: int = 0  # graph-level configs measured in batches elsewhere (Ray tasks)


@dataclass
class Context:
    """What every step of tuning one model works with: the backend and its session, the
    database and the job's recorder, the settings and the loaded cost model (or None)."""

    backend: Backend
    session: Session
    record: Recorder
    settings: Settings
    costmodel: Any
    on_outcome: OnOutcome | None = None

    @property
    def db(self) -> TuningDatabase:
        return self.session.db

    @property
    def target_id(self) -> int:
        return self.session.target_id

    @property
    def rank_pool(self) -> int:
        """Proposals the cost model ranks per measured trial."""
        return self.settings.rank_pool or self.backend.rank_pool

    @property
    def search_kind(self) -> str:
        """The job's search strategy, 'auto' resolved to the backend's default."""
        kind = self.settings.search
        return self.backend.searches[0] if kind == "auto" else kind

    def outcome(self, wid: int, status: str, secs: float | None) -> None:
        """Tell the job (its progress bar) about one measured candidate."""
        if self.on_outcome is not None:
            self.on_outcome(wid, status, secs)
