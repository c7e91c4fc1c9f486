"""The driver of a tuning job: every model of a job file, within its budgets, resumable.

Before any work it resolves the job's target for every backend (with a device key: the
remote device's target, asked from a device of the key), builds every model and
loads the cost models, so a mistake is one line and the database is untouched. Then, per
model, the backend's `ModelTuner` prepares it, skips what is already tuned for this target
and compiler versions (unless forced), tunes the rest until the trial budget or the
model's share of the job's clock runs out, and measures the model end to end. All
outcomes are committed as they happen; a killed job, run again, continues where it stopped.

Example::

    spec = load_job("examples/nightly.toml")
    report = run_job(spec, db_path=None)     # None: the embedded default database
    print(report.table())
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from autotune import backends, interrupts
from autotune.backends.base import DeviceLost
from autotune.errors import UserError
from autotune.tuning import joint
from autotune.tuning.budget import model_deadline
from autotune.tuning.jobfile import JobSpec
from autotune.tuning.joint import graph_left
from autotune.tuning.model import ModelTuner, Settings
from autotune.tuning.report import JobReport, ModelResult


def _cost_models(spec: JobSpec) -> dict[str, Any]:
    """Each backend's cost model (None: none), loaded before the job starts."""
    from autotune.costmodel.base import CostModelError
    from autotune.costmodel.ranker import load_model

    out = {}
    for name in spec.backends():
        try:
            out[name] = load_model(name, spec.cost_model)
        except CostModelError as exc:
            raise UserError(f"[job] cost_model: {exc}") from None
    return out


def prepare_job(spec: JobSpec) -> tuple[dict[str, Any], dict[str, Any], list[tuple[Any, Any]], dict]:
    """Everything a job needs before any work, checked: (backends, targets, loaded models,
    cost models). A mistake is one UserError line, and the database is untouched."""
    used = {name: backends.get(name) for name in spec.backends()}
    targets = {}
    for name, be in used.items():  # first, the cheapest mistake to find (a remote device answers)
        remote = spec.remote(name)  # validated: each backend's engine is set
        targets[name] = (
            be.resolve_target(spec.target) if remote is None else be.resolve_remote(spec.target, remote)
        )
    if spec.report:
        from autotune.report import check_out

        check_out(spec.report)  # before any work: a file in its place, or no matplotlib
    models = []
    for entry in spec.models:
        try:
            models.append((entry, used[entry.backend].load_model(entry.source)))
        except UserError as exc:
            raise UserError(f"model {entry.name!r}: {exc}") from None
    costmodels = _cost_models(spec)
    return used, targets, models, costmodels


def settings_of(spec: JobSpec, graph_tasks: Any = None) -> Settings:
    """How the job tunes, from its validated spec (`Settings.graph_tasks`: `graph_tasks`)."""
    return Settings(
        search=spec.search,
        trials_per_iter=spec.trials_per_iter,
        cost_model=spec.cost_model,
        rank_pool=spec.rank_pool,
        baselines=None if spec.baselines is None else tuple(spec.baselines),
        first_pass=spec.first_pass,
        graph_trials=spec.graph_trials,
        levels=tuple(spec.levels),
        graph_tasks=graph_tasks,
    )


def open_tuner(
    spec: JobSpec,
    be: Any,
    target: Any,
    db: Any,
    job_id: int,
    settings: Settings,
    costmodel: Any,
    deadline: float,
) -> ModelTuner:
    """The tuner of a backend's models for the job: a session on its target (on the job's
    remote devices, if it has them) that waits for a device until `deadline`."""
    remote = spec.remote(be.name)
    session = be.open(target, db, job_id, **({"remote": remote} if remote else {}))
    session.deadline = deadline  # how long it waits for a device that went away
    if session.where():
        print(f"autotune: {be.name}: {session.where()}", file=sys.stderr)
    return ModelTuner(be, session, db, job_id, settings, costmodel)


def run_job(
    spec: JobSpec,
    db_path: str | None = None,
    force: bool = False,
    progress: bool = True,
    graph_tasks: Any = None,
) -> JobReport:
    """Run a tuning job; returns its report (also stored in the database as it goes).
    `graph_tasks`: measures the joint search's graph-level configs elsewhere
    (`Settings.graph_tasks`)."""
    from tqdm import tqdm

    from autotune.db import open_db

    used, targets, models, costmodels = prepare_job(spec)
    settings = settings_of(spec, graph_tasks)
    db = open_db(db_path or spec.database)
    started = time.time()
    deadline = started + spec.time_budget_s
    job_id = db.start_job(spec.as_dict() | {"force": force})
    report = JobReport(job_id, str(db.path), 0.0)
    status = "failed"
    tuners: dict[str, ModelTuner] = {}
    # Ctrl-C and SIGTERM raise KeyboardInterrupt (recorded only inside C++: interrupts.py). A
    # compiler may turn that into its own error (MetaSchedule: an empty RuntimeError that failed
    # the model, and the job went on to the next); the job checks the record instead, so Ctrl-C
    # stops it wherever the signal landed.
    signals = ExitStack()
    try:
        signals.enter_context(interrupts.handled())
        trials_left = sum(entry.trials for entry, _ in models)
        cut: list[tuple[Any, ModelTuner, Any, ModelResult]] = []  # models their share's clock cut
        for entry, model in models:
            trials_left -= entry.trials
            result = ModelResult(entry.name, entry.backend)
            report.models.append(result)
            t0 = time.time()
            with _one_model(result):
                if entry.backend not in tuners:
                    tuners[entry.backend] = open_tuner(
                        spec,
                        used[entry.backend],
                        targets[entry.backend],
                        db,
                        job_id,
                        settings,
                        costmodels[entry.backend],
                        deadline,
                    )
                tuner = tuners[entry.backend]
                plan = _tune_model(tuner, entry, model, result, deadline, trials_left, force, progress, tqdm)
                if result.status == "partial":
                    cut.append((entry, tuner, plan, result))
                else:
                    _measure(tuner, plan, result, force)
            result.seconds = time.time() - t0
            interrupts.check()  # before a model a swallowed interrupt cut short is saved as done
            _save(db, job_id, tuners.get(entry.backend), result)
        # What the models that finished early left of the clock goes to those it cut, in turn.
        trials_left = sum(entry.trials for entry, *_ in cut)
        for entry, tuner, plan, result in cut:
            trials_left -= entry.trials
            t0 = time.time()
            with _one_model(result):
                share = model_deadline(deadline, entry.trials, trials_left)
                if time.time() < share:
                    _go_on(tuner, entry, plan, result, share, force, progress, tqdm)
                _measure(tuner, plan, result, force)
            result.seconds += time.time() - t0
            interrupts.check()
            _save(db, job_id, tuner, result)
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        signals.close()  # the previous handlers are back before the clean-up
        for tuner in tuners.values():
            tuner.close()
            tuner.session.close()
        report.seconds = time.time() - started
        db.finish_job(job_id, status)
        if spec.report:
            write_job_report(db, spec.report, job_id)
        db.close()
    return report


def write_job_report(db: Any, folder: str, job_id: int) -> None:
    """The job's report (`report` key); a report that cannot be written is one line on
    stderr, never a failed job: what was tuned is in the database either way."""
    from autotune.report import write_report

    try:
        paths = write_report(db, folder, job_id=job_id)
    except Exception as exc:  # noqa: BLE001 - the job's results are committed already
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"autotune: warning: report not written to {folder}: {first}", file=sys.stderr)
        return
    print(f"report: {paths.html}", file=sys.stderr)


def _save(db: Any, job_id: int, tuner: ModelTuner | None, result: ModelResult) -> None:
    """What the job did with a model, kept in the database for `autotune report`."""
    db.add_job_model(
        job_id,
        result.name,
        result.backend,
        tuner.target_id if tuner is not None else None,
        result.status,
        result.trials,
        result.failures,
        result.seconds,
        result.as_dict(),
    )


@contextmanager
def _one_model(result: ModelResult) -> Iterator[None]:
    """One model's failure is its result's error line; it must not end the nightly job. A
    device that went away for good (`DeviceLost`) stops the model where it was: partial, and
    one line saying so."""
    try:
        yield
    except (KeyboardInterrupt, UserError):
        raise
    except DeviceLost as exc:
        result.status, result.note = "partial", str(exc)
        print(f"autotune: {result.name}: {exc}", file=sys.stderr)
    except Exception as exc:
        interrupts.check(exc)  # the compiler's error for an interrupt is not the model's failure
        first = str(exc).splitlines()[0] if str(exc) else ""
        result.status, result.error = "failed", f"{type(exc).__name__}: {first}"


def _tune_model(
    tuner: ModelTuner,
    entry: Any,
    model: Any,
    result: ModelResult,
    deadline: float,
    trials_left: int,
    force: bool,
    progress: bool,
    tqdm: Any,
) -> Any:
    """One model of the job: prepare it and tune what is pending within its share of the
    clock; returns its plan (`result.status`: 'skipped', 'tuned' or 'partial')."""
    plan = tuner.prepare(entry.name, entry.source, model)
    result.subgraphs = len(plan.workloads)
    plan.todo = tuner.pending(plan, entry.trials, force)
    if not plan.todo and not tuner.gain_left(plan, force) and not graph_left(tuner, plan):
        result.status = "skipped"
        return plan
    _go_on(
        tuner, entry, plan, result, model_deadline(deadline, entry.trials, trials_left), force, progress, tqdm
    )
    return plan


def _go_on(
    tuner: ModelTuner,
    entry: Any,
    plan: Any,
    result: ModelResult,
    share: float,
    force: bool,
    progress: bool,
    tqdm: Any,
) -> None:
    """Tune what the model has left until `share` (a time), with a progress bar: trials done
    of those left, and an ETA, the earlier of tqdm's (by the rate so far) and the time left to
    `share` ('eta 01:23 (clock)' when the clock decides)."""

    def eta(n: int, elapsed: float, rate: float | None, total: int | None) -> str:
        clock = max(0.0, share - time.time())
        rate = rate or (n / elapsed if n and elapsed else None)
        by_rate = max(0.0, (total - n) / rate) if rate and total else None
        if by_rate is None or clock < by_rate:
            return f"eta {tqdm.format_interval(clock)} (clock), failed {result.failures}"
        return f"eta {tqdm.format_interval(by_rate)}, failed {result.failures}"

    total = tuner.left(plan, force)
    bar = tqdm(
        total=total,
        desc=f"{entry.name:<10}",
        unit="trial",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]",
        postfix=eta(0, 0.0, None, total),
    )

    def on_outcome(wid: int, st: str, secs: float | None) -> None:
        result.trials += 1
        result.failures += st != "ok"
        if not bar.disable:  # the ETA as of this trial, shown by the update that counts it
            d = bar.format_dict
            bar.set_postfix_str(eta(d["n"] + 1, d["elapsed"], d["rate"], d["total"]), refresh=False)
        bar.update(1)

    complete = tuner.go_on(plan, share, force=force, on_outcome=on_outcome)
    bar.close()
    result.status = "tuned" if complete else "partial"
    result.first_pass, result.by_gain = plan.first, plan.by_gain


def _measure(tuner: ModelTuner, plan: Any, result: ModelResult, force: bool) -> None:
    """The model end to end (and what users would run instead: the baselines), or, skipped
    and measured before, what was stored."""
    last = tuner.db.latest_model_measurement(plan.model_id, tuner.target_id)
    if result.status != "skipped" or last is None:
        e2e = tuner.end_to_end(plan, force=force)
        result.default_s, result.tuned_s, result.speedup = e2e["default_s"], e2e["tuned_s"], e2e["speedup"]
        result.baselines = e2e["baselines"]
        if not e2e["kept"]:
            result.note = (
                f"the best measured {e2e['lost_speedup']:.2f}x end to end, under the win margin: "
                "the compiler default is kept"
            )
    else:
        result.default_s, result.tuned_s, result.speedup = (
            last["default_median"],
            last["tuned_median"],
            last["speedup"],
        )
        result.baselines = tuner.baselines(plan)  # measured now only where none is stored yet
    if len(plan.workloads) == 1 and plan.workloads[0].decisions:
        best = tuner.db.best(plan.workloads[0].workload_id, tuner.target_id)
        result.best = tuner.backend.describe_config(best.config) if best else []
    result.graph = joint.summary(tuner, plan)
    result.profile = plan.profile.as_dict()
