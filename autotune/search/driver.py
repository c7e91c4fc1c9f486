"""The driver of a tuning job: every model of a job file, within its budgets, resumable.

For each model it asks the backend tuner to plan (import, subgraphs, default latencies),
skips subgraphs already tuned for this target and compiler versions (unless forced),
searches the rest until the trial budget or the job's clock runs out, and measures the
model end to end, tuned vs default. All outcomes are committed as they happen; a killed
job, run again, continues where it stopped.

Example::

    spec = load_job("examples/nightly.toml")
    report = run_job(spec, db_path=None)     # None: the embedded default database
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from autotune.errors import UserError
from autotune.jobs.jobfile import JobSpec


@dataclass
class ModelResult:
    name: str
    status: str  # 'tuned' | 'skipped' | 'partial' | 'failed'
    subgraphs: int = 0
    trials: int = 0
    failures: int = 0
    default_s: float | None = None
    tuned_s: float | None = None
    speedup: float | None = None
    error: str = ""
    backend: str = "tvm"
    best: dict | None = None  # XLA: the winning decisions ({} when the default stays best)
    profile: dict | None = None  # XLA: where tuning time went (seconds)


@dataclass
class JobReport:
    job_id: int
    database: str
    seconds: float
    models: list[ModelResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(m.status != "failed" for m in self.models)

    def table(self) -> str:
        w = max([14] + [len(m.name) + 2 for m in self.models])
        rows = [
            f"{'model':<{w}}{'backend':<8}{'status':<10}{'subgraphs':>10}{'trials':>8}{'failed':>8}"
            f"{'default ms':>12}{'tuned ms':>10}{'speedup':>9}"
        ]
        for m in self.models:
            f = lambda v, s=1e3: f"{v * s:.3f}" if v is not None else "-"
            rows.append(
                f"{m.name:<{w}}{m.backend:<8}{m.status:<10}{m.subgraphs:>10}{m.trials:>8}{m.failures:>8}"
                f"{f(m.default_s):>12}{f(m.tuned_s):>10}{(f'{m.speedup:.2f}x' if m.speedup else '-'):>9}"
            )
            if m.error:
                rows.append(f"  error: {m.error}")
            if m.best is not None:
                rows.append(f"  best: {', '.join(f'{k}={v}' for k, v in m.best.items()) or 'XLA default'}")
            if m.profile and m.profile["total_s"] > 0:
                p = m.profile
                rows.append(
                    f"  time {p['total_s']:.1f} s: worker start {p['worker_startup_s']:.1f}, compile "
                    f"{p['compile_s']:.1f}, run {p['run_s']:.1f}, cost model {p['costmodel_s']:.1f}, "
                    f"autotune {p['ours_s']:.1f}"
                    + (f"; cost model ranked {p['ranked']} proposals" if p.get("ranked") else "")
                )
        rows.append(f"job {self.job_id} in {self.seconds:.0f} s, database {self.database}")
        return "\n".join(rows)


def _load_models(spec: JobSpec) -> list[tuple[Any, Any]]:
    """Create every model before touching the database, so a bad name fails early."""
    from autotune import zoo

    out = []
    for entry in spec.models:
        try:
            out.append((entry, zoo.create(entry.source, backend=entry.backend)))
        except ValueError as exc:  # UnknownModelError and bad user functions
            raise UserError(f"model {entry.name!r}: {exc}") from None
    return out


def _tuners(spec: JobSpec, db: Any, job_id: int) -> dict[str, Any]:
    """One model tuner per backend the job uses."""
    out: dict[str, Any] = {}
    backends = {e.backend for e in spec.models}
    if "tvm" in backends:
        from autotune.backends.tvm.tuner import ModelTuner
        from autotune.backends.tvm.workload import resolve_target

        out["tvm"] = ModelTuner(
            db,
            resolve_target(spec.target),
            job_id,
            search=spec.search,
            trials_per_iter=spec.trials_per_iter,
            cost_model="xgb" if spec.cost_model == "none" else spec.cost_model,
        )
    if "xla" in backends:
        from autotune.backends.xla.tuner import XlaModelTuner
        from autotune.backends.xla.workload import resolve_platform

        search = spec.search if spec.search in ("auto", "tpe", "random", "exhaustive") else "auto"
        out["xla"] = XlaModelTuner(
            db, resolve_platform(spec.target), job_id, search=search, cost_model=spec.cost_model
        )
    return out


def model_deadline(deadline: float, trials: int, trials_after: int, now: float | None = None) -> float:
    """When one model must stop: its share of the time left, by trial budget, so that models
    late in the job are not starved by an early one that overruns (time a model leaves
    unused flows to the ones after it)."""
    now = time.time() if now is None else now
    left = max(0.0, deadline - now)
    return now + left * trials / max(1, trials + trials_after)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_job(
    spec: JobSpec, db_path: str | None = None, force: bool = False, progress: bool = True
) -> JobReport:
    """Run a tuning job; returns its report (also stored in the database as it goes)."""
    from tqdm import tqdm

    from autotune.db import open_db

    if any(e.backend == "tvm" for e in spec.models):
        from autotune.backends.tvm.workload import resolve_target

        resolve_target(spec.target)  # a bad target is a one-line error before any work
    if any(e.backend == "xla" for e in spec.models):
        from autotune.backends.xla.workload import resolve_platform

        resolve_platform(spec.target)
    models = _load_models(spec)
    db = open_db(db_path or spec.database)
    started = time.time()
    deadline = started + spec.time_budget_s
    job_id = db.start_job(spec.as_dict() | {"force": force})
    report = JobReport(job_id, str(db.path), 0.0)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    status = "failed"
    tuners: dict[str, Any] = {}
    try:
        tuners = _tuners(spec, db, job_id)
        trials_left = sum(entry.trials for entry, _ in models)
        for entry, model in models:
            trials_left -= entry.trials
            result = ModelResult(entry.name, "failed", backend=entry.backend)
            report.models.append(result)
            tuner = tuners[entry.backend]
            try:
                if entry.backend == "tvm":
                    plan = tuner.prepare(entry.name, entry.source, model.module, model.example_inputs)
                else:
                    plan = tuner.prepare(entry.name, entry.source)
                result.subgraphs = len(plan.subgraphs)
                todo = tuner.pending(plan, entry.trials, force)
                total = sum(max(0, sg.trials - sg.done) for sg in todo)
                if not todo:
                    result.status = "skipped"
                else:
                    bar = tqdm(
                        total=total,
                        desc=f"{entry.name:<10}",
                        unit="trial",
                        disable=not progress,
                        file=sys.stderr,
                        dynamic_ncols=True,
                    )

                    def on_outcome(
                        wid: int, st: str, secs: float | None, r: ModelResult = result, b: Any = bar
                    ) -> None:
                        r.trials += 1
                        r.failures += st != "ok"
                        b.update(1)
                        b.set_postfix(failed=r.failures, refresh=False)

                    share = model_deadline(deadline, entry.trials, trials_left)
                    complete = tuner.tune(plan, entry.trials, share, force=force, on_outcome=on_outcome)
                    bar.close()
                    result.status = "tuned" if complete else "partial"
                last = db.latest_model_measurement(plan.model_id, tuner.target_id)
                if result.status != "skipped" or last is None:
                    e2e = tuner.end_to_end(plan)
                    result.default_s, result.tuned_s, result.speedup = (
                        e2e["default_s"],
                        e2e["tuned_s"],
                        e2e["speedup"],
                    )
                else:
                    result.default_s, result.tuned_s = last["default_median"], last["tuned_median"]
                    result.speedup = last["speedup"]
                if entry.backend == "xla":
                    best = db.confirmed_best(plan.subgraphs[0].workload_id, tuner.target_id)
                    result.best = best.config if best else {}
                    result.profile = plan.profile.as_dict()
            except (KeyboardInterrupt, UserError):
                raise
            except Exception as exc:  # one model's failure must not end the nightly job
                result.status, result.error = (
                    "failed",
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                )
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        for tuner in tuners.values():
            tuner.close()
        report.seconds = time.time() - started
        db.finish_job(job_id, status)
        db.close()
    return report
