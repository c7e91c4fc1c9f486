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

Ray is optional (`pip install 'autotune[ray]'`). Example::

    report = run_fanout(load_job("jobs.toml"), "local")   # a local Ray instance on this machine
    print(report.table())
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from autotune.db.schema import snapshot
from autotune.errors import UserError
from autotune.tuning.jobfile import JobSpec
from autotune.tuning.report import JobReport, ModelResult

#: How often Ray runs a task again whose worker died.
MAX_RETRIES = 2
#: Logical CPUs a task asks Ray for (a model's builds and runs use the cores of its node).
TASK_CPUS = 1


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'autotune[ray]'") from None
    return ray


def _connect(ray: Any, address: str) -> bool:
    """Join or start the cluster; True when this call started it (and must shut it down)."""
    if not isinstance(address, str) or not address:
        raise UserError("--ray: expected auto, local or a cluster address (HOST:PORT or ray://HOST:PORT)")
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address == "local":
        kwargs["address"] = "local"
    elif address != "auto" or os.environ.get("RAY_ADDRESS"):
        _reachable(address)  # Ray itself waits for an unreachable cluster forever
        kwargs["address"] = address
    else:
        kwargs["address"] = "auto"
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"--ray {address}: cannot reach a Ray cluster ({first})") from None
    return True


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """One clear line when nothing listens at a cluster address (HOST:PORT, ray://HOST:PORT)."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray {address}: expected auto, local, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise UserError(f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def shard_path(job_uid: str, entry: Any) -> Path:
    """Where a task's shard lives on its worker's disk."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{entry.backend}-{entry.name}")
    return Path(tempfile.gettempdir()) / "autotune-shards" / job_uid / f"{name}.sqlite"


def tune_shard(spec: JobSpec, start: bytes, job_uid: str, deadline: float, force: bool) -> tuple:
    """The task: tune one model into this worker's shard; returns (its JobReport, the shard's
    bytes). A shard left by a killed attempt of the same task is resumed, not redone."""
    from autotune.tuning.job import run_job

    path = shard_path(job_uid, spec.models[0])
    resumed = path.exists()
    if not resumed:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        part.write_bytes(start)
        os.replace(part, path)
    path.with_suffix(".pid").write_text(str(os.getpid()))  # who works on it (tests kill it)
    spec = dataclasses.replace(spec, time_budget_s=max(1.0, deadline - time.time()))
    report = run_job(spec, db_path=str(path), force=force and not resumed, progress=False)
    data = snapshot(path)
    for leftover in path.parent.glob(path.stem + "*"):
        leftover.unlink(missing_ok=True)
    return report, data


def run_fanout(
    spec: JobSpec, address: str, db_path: str | None = None, force: bool = False, progress: bool = True
) -> JobReport:
    """Run a job's models as Ray tasks (see the module docstring); returns the job's report."""
    from autotune.db import open_db
    from autotune.tuning.job import prepare_job

    ray = _ray()
    prepare_job(spec)  # every mistake is one line here, before any task starts
    ours = _connect(ray, address)
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
        if ours:
            ray.shutdown()
        if spec.report:
            from autotune.tuning.job import write_job_report

            write_job_report(db, spec.report, job_id)
        db.close()
    return report


def _collect(ray: Any, db: Any, job_id: int, entry: Any, ref: Any) -> list[ModelResult]:
    """A finished task: its shard merged into the job's database, its model results; a task
    that failed for good (after its retries) is a failed model, not a failed job."""
    from autotune.db import open_db

    try:
        shard_report, data = ray.get(ref)
    except Exception as exc:  # noqa: BLE001 - Ray wraps the worker's error; one line of it
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        failed = ModelResult(entry.name, entry.backend, status="failed", error=f"ray task: {first[:300]}")
        db.add_job_model(job_id, entry.name, entry.backend, None, "failed", 0, 0, None, failed.as_dict())
        return [failed]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shard.sqlite"
        path.write_bytes(data)
        with open_db(path, readonly=True) as shard:
            db.merge_from(shard, own_shard=True, jobs_as=job_id)
    return list(shard_report.models)
