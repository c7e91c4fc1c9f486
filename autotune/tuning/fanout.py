"""Fan-out of a job over a Ray cluster: each model of the job is a Ray task that tunes into a
SQLite file of its own, on its worker's disk, and the driver merges each finished shard into
the job's database. One SQLite file is never shared between machines.

- Each task starts from a snapshot of the job's database, so a model already tuned is
  skipped, as in a job run here, and it runs `run_job` for its one model until the job's
  deadline (the budget holds across workers: every task ends by the job's clock).
- A task whose worker dies is retried by Ray (`MAX_RETRIES`); on the same node it resumes
  from its shard (what it committed is there), elsewhere it starts from the snapshot again.
- The merge validates the shard as any merge does, keeps the hosts that measured it, gives
  each confirmation its verdict again from its samples, and files the shard's measurements
  under the driver's job, so `autotune report` of the job shows every model.
- With the joint search (`graph_trials`), a model's task measures its graph-level configs as
  Ray tasks too (`GraphTasks`): the graph search proposes as many configs at once as the
  cluster has task slots, each a task that starts from a snapshot of the model's shard,
  tunes the subgraphs the config adds and measures the model under it in a shard of its
  own, which the model's task merges before it tells the search. The winner is still
  confirmed in the model's task, interleaved against the model's own graph.

Ray is optional (`pip install 'autotune[ray]'`). Example::

    report = run_fanout(load_job("jobs.toml"), "local")   # a local Ray instance on this machine
    print(report.table())
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autotune.backends.raycluster import connect, disconnect, ray_module
from autotune.db.records import canonical_json
from autotune.db.schema import snapshot
from autotune.errors import last_line
from autotune.tuning.jobfile import JobSpec
from autotune.tuning.report import JobReport, ModelResult

#: How often Ray runs a task again whose worker died.
MAX_RETRIES = 2
#: Logical CPUs a task asks Ray for (a model's builds and runs use the cores of its node).
TASK_CPUS = 1


def shard_path(job_uid: str, entry: Any, config: dict[str, Any] | None = None) -> Path:
    """Where a task's shard lives on its worker's disk (a graph-level config's task: `config`)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{entry.backend}-{entry.name}")
    folder = Path(tempfile.gettempdir()) / "autotune-shards" / job_uid
    if config is not None:
        tag = hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]
        return folder / "graph" / f"{name}-{tag}.sqlite"
    return folder / f"{name}.sqlite"


def _start_shard(path: Path, start: bytes) -> bool:
    """The shard at `path`: a killed attempt's, resumed (True), or the snapshot `start`."""
    if path.exists():
        return True
    part = path.with_suffix(".part")
    for attempt in range(3):  # a task finishing on this node may remove the folder meanwhile
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            part.write_bytes(start)
            os.replace(part, path)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
    return False


def _finish_shard(path: Path) -> bytes:
    """The shard's bytes, its files removed from the worker's disk."""
    data = snapshot(path)
    for leftover in path.parent.glob(path.stem + ".*"):
        leftover.unlink(missing_ok=True)
    folder = path.parent
    while folder.name != "autotune-shards":  # the job's folders, once no task uses them
        try:
            folder.rmdir()
        except OSError:
            break
        folder = folder.parent
    return data


def tune_shard(spec: JobSpec, start: bytes, job_uid: str, deadline: float, force: bool) -> tuple:
    """The task: tune one model into this worker's shard; returns (its JobReport, the shard's
    bytes). A shard left by a killed attempt of the same task is resumed, not redone. With
    the joint search, its graph-level configs are Ray tasks too (`GraphTasks`)."""
    from autotune.tuning.job import run_job

    path = shard_path(job_uid, spec.models[0])
    resumed = _start_shard(path, start)
    path.with_suffix(".pid").write_text(str(os.getpid()))  # who works on it (tests kill it)
    spec = dataclasses.replace(spec, time_budget_s=max(1.0, deadline - time.time()))
    tasks = GraphTasks(spec, job_uid) if "graph" in spec.levels else None  # the joint search's
    report = run_job(spec, db_path=str(path), force=force and not resumed, progress=False, graph_tasks=tasks)
    return report, _finish_shard(path)


def tune_graph_config(
    spec: JobSpec,
    config: dict[str, Any],
    start: bytes,
    job_uid: str,
    deadline: float,
    force: bool,
    known: list[str],
) -> tuple:
    """The task of one graph-level config of a model's joint search: from a snapshot of the
    model's shard, tune the config's new subgraphs (none of `known`) and measure the model
    under it (`joint.measure_config`); returns (the Outcome, None if the clock ran out first;
    the shard's bytes)."""
    from autotune.db import open_db
    from autotune.tuning.job import open_tuner, prepare_job, settings_of
    from autotune.tuning.joint import measure_config

    (entry,) = spec.models
    path = shard_path(job_uid, entry, config)
    _start_shard(path, start)
    used, targets, models, costmodels = prepare_job(spec)
    db = open_db(path)
    job_id = db.start_job(spec.as_dict() | {"graph_config": config})
    status = "failed"
    tuner = open_tuner(
        spec,
        used[entry.backend],
        targets[entry.backend],
        db,
        job_id,
        settings_of(spec),
        costmodels[entry.backend],
        deadline,
    )
    try:
        plan = tuner.prepare(entry.name, entry.source, models[0][1])
        tuner.pending(plan, entry.trials, force=False)  # the allotments the model's task made
        out = measure_config(tuner, plan, config, deadline, force, frozenset(known))
        status = "done"
    finally:
        tuner.close()
        tuner.session.close()
        db.finish_job(job_id, status)
        db.close()
    return out, _finish_shard(path)


@dataclass
class GraphTasks:
    """Measures a model's graph-level configs as Ray tasks (`tune_graph_config`), as many at
    once as the cluster has task slots, each merged into the model's shard when it is done.
    A subgraph that two configs of a batch add is tuned first, once, in the model's task."""

    spec: JobSpec  # the model's job: one model
    job_uid: str

    def bind(self, tuner: Any, plan: Any, force: bool) -> _BoundGraphTasks:
        return _BoundGraphTasks(self, tuner, plan, force)


class _BoundGraphTasks:
    """`GraphTasks` for one model's search (a `graph_loop.MeasureMany`)."""

    def __init__(self, tasks: GraphTasks, tuner: Any, plan: Any, force: bool) -> None:
        ray = ray_module()
        self.tasks, self.tuner, self.plan, self.force = tasks, tuner, plan, force
        self.width = max(1, int(ray.cluster_resources().get("CPU", 1) // TASK_CPUS))

    def measure(self, configs: list[dict[str, Any]], deadline: float) -> list[Any]:
        from autotune.backends.base import GRAPH_KIND, Outcome
        from autotune.db.recorder import Recorder
        from autotune.tuning.joint import ClockOut, new_subgraphs, tune_shared

        ray = ray_module()
        tuner, plan = self.tuner, self.plan
        try:
            known = sorted(tune_shared(tuner, plan, configs, deadline, self.force))
        except ClockOut:
            return [None] * len(configs)
        start = ray.put(snapshot(tuner.db.path))
        task = ray.remote(num_cpus=TASK_CPUS, max_retries=MAX_RETRIES)(tune_graph_config)
        refs = [
            task.remote(self.tasks.spec, c, start, self.tasks.job_uid, deadline, self.force, known)
            for c in configs
        ]
        outs = []
        for ref, config in zip(refs, configs):
            try:
                out, data = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - failed for good, after its retries: one line
                out = Outcome("run_error", [], f"ray task: {last_line(exc, 300)}")
                record = Recorder(tuner.db, tuner.target_id, tuner.job_id, GRAPH_KIND)
                record(plan.graph.workload_id, config, out.status, [], out.error)
                outs.append(out)
                continue
            merge_shard(tuner.db, data, tuner.job_id)
            if out is not None:
                new_subgraphs(tuner, plan, config, force=False)  # their tuning is merged: only known here
            outs.append(out)
        return outs


def run_fanout(
    spec: JobSpec,
    address: str | None = None,
    db_path: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> JobReport:
    """Run a job's models as Ray tasks (see the module docstring) on the cluster at `address`
    (None: the job's `ray`); returns the job's report."""
    from autotune.db import open_db
    from autotune.tuning.job import prepare_job

    address = address or spec.ray or "auto"
    spec = dataclasses.replace(spec, ray=address)  # each task joins the same cluster's devices
    ray = connect(address)  # before `prepare_job`: a cluster's devices describe themselves there
    try:
        prepare_job(spec)  # every mistake is one line here, before any task starts
    except BaseException:
        disconnect()
        raise
    db = open_db(db_path or spec.database)
    started = time.time()
    job_id = db.start_job(spec.as_dict() | {"force": force, "ray": address})
    job = db.job(job_id)
    report = JobReport(job_id, str(db.path), 0.0)
    status = "failed"
    try:
        task = ray.remote(num_cpus=TASK_CPUS, max_retries=MAX_RETRIES)(tune_shard)
        start = ray.put(snapshot(db.path))
        deadline = started + spec.time_budget_s
        waiting = {}
        for entry in spec.models:
            one = dataclasses.replace(spec, models=[entry], report=None, database=None)
            waiting[task.remote(one, start, job["uid"], deadline, force)] = entry
        while waiting:
            (done,), _ = ray.wait(list(waiting), num_returns=1)
            entry = waiting.pop(done)
            report.models += _collect(ray, db, job_id, entry, done)
            if progress:
                print(f"{entry.name} ({entry.backend}): {report.models[-1].status}", file=sys.stderr)
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        report.seconds = time.time() - started
        db.finish_job(job_id, status)
        disconnect()
        if spec.report:
            from autotune.tuning.job import write_job_report

            write_job_report(db, spec.report, job_id)
        db.close()
    return report


def _collect(ray: Any, db: Any, job_id: int, entry: Any, ref: Any) -> list[ModelResult]:
    """A finished task: its shard merged into the job's database, its model results; a task
    that failed for good (after its retries) is a failed model, not a failed job."""
    try:
        shard_report, data = ray.get(ref)
    except Exception as exc:  # noqa: BLE001 - Ray wraps the worker's error; one line of it
        failed = ModelResult(
            entry.name, entry.backend, status="failed", error=f"ray task: {last_line(exc, 300)}"
        )
        db.add_job_model(job_id, entry.name, entry.backend, None, "failed", 0, 0, None, failed.as_dict())
        return [failed]
    merge_shard(db, data, job_id)
    return list(shard_report.models)


def merge_shard(db: Any, data: bytes, job_id: int) -> None:
    """A finished task's shard (its bytes) merged into `db`, its work filed under `job_id`."""
    from autotune.db import open_db

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shard.sqlite"
        path.write_bytes(data)
        with open_db(path, readonly=True) as shard:
            db.merge_from(shard, own_shard=True, jobs_as=job_id)
