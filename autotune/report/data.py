"""What a job report shows, gathered from the database as plain data (no plotting here).

One pass over the job's outcomes gives every tuning curve; the rest is read per model:
its end-to-end measurement and baselines, its bests and what each decision contributed,
and what changed since the job before.

Example::

    data = collect(db, job_id=None, models=["bert-tiny"])   # None: the latest job
    for m in data.models:
        print(m.name, m.speedup, m.curve.best_s[-1] if m.curve.best_s else None)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from autotune import backends
from autotune.compare import paired_ratios, paired_speedup
from autotune.db import TuningDatabase
from autotune.errors import UserError

#: A model's tuned build this much slower end to end than in the job before is a regression.
REGRESSION = 0.05
#: The default's label per compiler: what its users run without autotune.
DEFAULT_LABEL = {"tvm": "TVM's default build", "xla": "XLA's default"}


@dataclass
class Curve:
    """The best latency measured so far, after each trial: trial number, seconds since the
    job started, and the best (seconds)."""

    trials: list[int] = field(default_factory=list)
    clock_s: list[float] = field(default_factory=list)
    best_s: list[float] = field(default_factory=list)


@dataclass
class Subgraph:
    name: str
    weight: int
    default_s: float | None
    curve: Curve
    trials: int = 0


@dataclass
class Ratio:
    """A paired speedup (median of per-round ratios) with its spread (min and max ratio)."""

    label: str
    speedup: float
    low: float
    high: float
    rounds: int
    job_id: int | None = None
    baseline_s: float | None = None


@dataclass
class Decision:
    subgraph: str
    decision: str
    ratio: float  # the best without it / the best (above 1: it helps)


@dataclass
class Model:
    name: str
    compiler: str
    status: str = ""
    trials: int = 0
    failures: int = 0
    seconds: float | None = None
    error: str = ""
    note: str = ""
    profile: dict[str, float] = field(default_factory=dict)
    default_s: float | None = None
    tuned_s: float | None = None
    ratios: list[Ratio] = field(default_factory=list)  # vs the default first, then baselines
    vs_default: Ratio | None = None  # the first of `ratios`, when measured end to end
    curve: Curve = field(default_factory=Curve)  # estimated end to end (see `collect`)
    curve_scale: str = ""  # how `curve` is put on the end-to-end scale
    subgraphs: list[Subgraph] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


@dataclass
class Failure:
    kind: str
    count: int
    first_error: str
    where: str


@dataclass
class ReportData:
    job: dict[str, Any]
    database: str
    generated_at: float
    targets: list[str]
    models: list[Model]
    failures: list[Failure]
    changes: list[str]
    previous_job: int | None
    measurements: int


def _latest_job(db: TuningDatabase, models: list[str] | None) -> int:
    jobs = [j for j in db.jobs()]
    if not jobs:
        raise UserError("no job in this database yet: run `autotune tune` first")
    if not models:
        return int(jobs[-1]["id"])
    for j in reversed(jobs):
        if {r["model"] for r in db.job_models(j["id"])} & set(models):
            return int(j["id"])
    raise UserError(f"no job in this database tuned {', '.join(models)}")


def _ratio(label: str, default: list[float], tuned: list[float], **kw: Any) -> Ratio | None:
    pairs = paired_ratios(default, tuned)  # what paired_speedup takes the median of
    if not pairs:
        return None
    return Ratio(label, paired_speedup(default, tuned), min(pairs), max(pairs), len(pairs), **kw)


def _models_of_job(db: TuningDatabase, job_id: int, wanted: list[str] | None) -> list[dict[str, Any]]:
    """The job's model rows (`job_models`); for a job from before they were kept, the models
    whose subgraphs it measured."""
    rows = db.job_models(job_id)
    if not rows:
        touched = {o["workload_id"] for o in db.job_outcomes(job_id)}
        for m in db.models():
            full = db.model(m["name"], m["compiler"])
            if full and touched & {w["id"] for w, _ in full["workloads"]}:
                rows.append(
                    {
                        "model": m["name"],
                        "compiler": m["compiler"],
                        "target_id": None,
                        "status": "",
                        "result": {},
                    }
                )
    if wanted:
        missing = set(wanted) - {r["model"] for r in rows}
        if missing:
            raise UserError(f"job {job_id} did not tune {', '.join(sorted(missing))}")
        rows = [r for r in rows if r["model"] in wanted]
    return rows


def collect(db: TuningDatabase, job_id: int | None = None, models: list[str] | None = None) -> ReportData:
    """Everything a report of job `job_id` (None: the latest one, or the latest that tuned
    `models`) shows about its models (`models`: only these)."""
    if job_id is None:
        job_id = _latest_job(db, models)
    job = db.job(job_id)
    if job is None:
        raise UserError(f"no job {job_id} in this database")
    outcomes = list(db.job_outcomes(job_id))
    rows = _models_of_job(db, job_id, models)
    e2e = {(m["model"], m["compiler"]): m for m in db.job_model_measurements(job_id)}
    out: list[Model] = []
    owner: dict[int, str] = {}
    target_ids: set[int] = {o["target_id"] for o in outcomes}
    for row in rows:
        model = _model(db, job, row, outcomes, e2e.get((row["model"], row["compiler"])), owner)
        out.append(model)
    for row in rows:
        if row.get("target_id"):
            target_ids.add(row["target_id"])
    previous = max((j["id"] for j in db.jobs() if j["id"] < job_id), default=None)
    return ReportData(
        job=job,
        database=str(getattr(db, "path", "")),
        generated_at=time.time(),
        targets=[_target_text(db, t) for t in sorted(target_ids)],
        models=out,
        failures=_failures(outcomes, owner, rows),
        changes=_changes(db, job_id, previous, rows, target_ids),
        previous_job=previous,
        measurements=len(outcomes),
    )


def _target_text(db: TuningDatabase, target_id: int) -> str:
    t = db.target_info(target_id)
    return f"[{target_id}] {t.compiler} {t.compiler_version} on {t.device_model} ({t.kind})"


def _model(
    db: TuningDatabase,
    job: dict[str, Any],
    row: dict[str, Any],
    outcomes: list[dict[str, Any]],
    e2e: dict[str, Any] | None,
    owner: dict[int, str],
) -> Model:
    result = row.get("result") or {}
    m = Model(
        name=row["model"],
        compiler=row["compiler"],
        status=row.get("status") or "",
        trials=int(row.get("trials") or 0),
        failures=int(row.get("failures") or 0),
        seconds=row.get("seconds"),
        error=result.get("error", ""),
        note=result.get("note", ""),
        profile=result.get("profile") or {},
    )
    stored = db.model(m.name, m.compiler)
    if stored is None:  # failed before it was prepared
        return m
    weights = {w["id"]: (w, n) for w, n in stored["workloads"]}
    for wid in weights:
        owner.setdefault(wid, m.name)
    tid = row.get("target_id") or e2e and e2e["target_id"] or db.latest_target(stored["id"])
    mine = [o for o in outcomes if o["workload_id"] in weights and (tid is None or o["target_id"] == tid)]
    if tid is None:
        return m
    _curves(db, m, weights, mine, tid, job["started_at"])
    label = DEFAULT_LABEL.get(m.compiler, "the default")
    if e2e is not None:
        m.default_s, m.tuned_s = e2e["default_median"], e2e["tuned_median"]
        r = _ratio(label, _samples(e2e["default_samples"]), _samples(e2e["tuned_samples"]), job_id=job["id"])
        if r is not None:
            r.baseline_s = m.default_s
            m.ratios.append(r)
            m.vs_default = r
    labels = backends.get(m.compiler).baselines if m.compiler in backends.names() else {}
    for name, b in db.baselines(stored["id"], tid).items():
        if b["status"] != "ok":
            continue
        r = _ratio(labels.get(name, name), b["samples"], b["tuned_samples"], job_id=b["job_id"])
        if r is not None:
            r.baseline_s = b["median_s"]
            m.ratios.append(r)
    # Put the subgraphs' sum on the end-to-end scale: the default's end-to-end time over theirs.
    total_default = sum(s.weight * (s.default_s or 0.0) for s in m.subgraphs)
    if m.default_s and total_default > 0 and m.curve.best_s:
        k = m.default_s / total_default
        m.curve.best_s = [v * k for v in m.curve.best_s]
        m.curve_scale = (
            "the sum over subgraphs of weight x best so far, scaled to the default's end-to-end time"
        )
    elif m.curve.best_s:
        m.curve_scale = "the sum over subgraphs of weight x best so far (no end-to-end measurement)"
    be = backends.get(m.compiler) if m.compiler in backends.names() else None
    for wid, (w, _) in weights.items():
        best = db.best(wid, tid)
        if best is None:
            continue
        # A schedule (a TVM trace) is one config, not decisions: it shows as what it samples.
        schedule = isinstance(best.config, dict) and "trace" in best.config
        parts = {} if schedule else db.contributions(wid, tid, best.config)
        if parts:
            m.decisions += [Decision(w["name"], k, v) for k, v in parts.items()]
        elif best.speedup:
            what = be.describe_config(best.config) if be else []
            text = "; ".join(what[:3]) + (" ..." if len(what) > 3 else "") if what else "tuned config"
            text = f"schedule: {text}" if schedule else text
            m.decisions.append(Decision(w["name"], text, best.speedup))
    m.decisions.sort(key=lambda d: -abs(d.ratio - 1.0))
    return m


def _samples(text: Any) -> list[float]:
    from autotune.db.records import parse_samples

    return parse_samples(text) if isinstance(text, str) else [float(x) for x in text]


def _curves(
    db: TuningDatabase,
    m: Model,
    weights: dict[int, tuple[dict[str, Any], int]],
    mine: list[dict[str, Any]],
    tid: int,
    started: float,
) -> None:
    """Best so far per subgraph and for the model (the weighted sum), over the model's tuning
    outcomes in this job; each starts at the subgraph's default latency."""
    defaults = {wid: db.default_latency(wid, tid) for wid in weights}
    best = dict(defaults)
    subs = {wid: Subgraph(w["name"], n, defaults[wid], Curve()) for wid, (w, n) in weights.items()}
    tuning = [o for o in mine if o["source"] == "tune"]
    first = tuning[0]["created_at"] - started if tuning else 0.0
    for wid, s in subs.items():  # every curve starts at the default, at trial 0
        if defaults[wid] is not None:
            s.curve.trials.append(0)
            s.curve.clock_s.append(first)
            s.curve.best_s.append(defaults[wid])  # type: ignore[arg-type]
    if all(v is not None for v in defaults.values()):
        m.curve.trials.append(0)
        m.curve.clock_s.append(first)
        m.curve.best_s.append(sum(defaults[w] * weights[w][1] for w in weights))  # type: ignore[operator]
    trial = 0
    for o in tuning:
        trial += 1
        wid, s = o["workload_id"], subs[o["workload_id"]]
        s.trials += 1
        clock = o["created_at"] - started
        if o["status"] == "ok" and o["median"] is not None:
            if best[wid] is None or o["median"] < best[wid]:
                best[wid] = o["median"]
        if best[wid] is not None:
            s.curve.trials.append(s.trials)
            s.curve.clock_s.append(clock)
            s.curve.best_s.append(best[wid])
        if all(v is not None for v in best.values()):
            m.curve.trials.append(trial)
            m.curve.clock_s.append(clock)
            m.curve.best_s.append(sum(best[w] * weights[w][1] for w in weights))  # type: ignore[operator]
    m.subgraphs = sorted(subs.values(), key=lambda s: -(s.weight * (s.default_s or 0.0)))


def _failures(
    outcomes: list[dict[str, Any]], owner: dict[int, str], rows: list[dict[str, Any]]
) -> list[Failure]:
    """Failed outcomes by kind, with the first error line of each kind; models that failed."""
    kinds: dict[str, Failure] = {}
    for o in outcomes:
        if o["status"] == "ok":
            continue
        f = kinds.get(o["status"])
        if f is None:
            where = owner.get(o["workload_id"], f"workload {o['workload_id']}")
            kinds[o["status"]] = Failure(o["status"], 1, o["error"], where)
        else:
            f.count += 1
    out = sorted(kinds.values(), key=lambda f: -f.count)
    for r in rows:
        if r.get("status") == "failed":
            err = (r.get("result") or {}).get("error", "")
            out.append(Failure("model failed", 1, err, r["model"]))
    return out


def _changes(
    db: TuningDatabase, job_id: int, previous: int | None, rows: list[dict[str, Any]], targets: set[int]
) -> list[str]:
    """What is new since the job before: models, compiler versions, and end-to-end regressions
    and gains of the tuned builds, each against the model's own last measurement on the target
    (in whichever earlier job took it: a nightly job that skipped a model measures it again only
    when it is tuned again)."""
    if previous is None:
        return ["the first job in this database"]
    lines = []
    before = {(r["model"], r["compiler"]) for r in _models_of_job(db, previous, None)}
    new = [f"{r['model']} ({r['compiler']})" for r in rows if (r["model"], r["compiler"]) not in before]
    if new:
        lines.append(f"new models since job {previous}: {', '.join(new)}")
    seen = db.versions_before(job_id)
    for t in sorted(targets):
        info = db.target_info(t)
        if (info.compiler, info.compiler_version) not in seen:
            lines.append(f"new compiler version: {info.compiler} {info.compiler_version}")
    for now in db.job_model_measurements(job_id):  # each against its own last measured job
        old = db.model_measurement_before(now["model_id"], now["target_id"], job_id)
        if old is None:
            continue
        change = now["tuned_median"] / old["tuned_median"] - 1.0
        word = "REGRESSION" if change > REGRESSION else "faster" if change < -REGRESSION else "unchanged"
        lines.append(
            f"{word}: {now['model']} ({now['compiler']}) tuned {now['tuned_median'] * 1e3:.3f} ms vs "
            f"{old['tuned_median'] * 1e3:.3f} ms in job {old['job_id']} ({change * 100:+.1f}%)"
        )
    if not lines:
        lines.append(f"nothing new since job {previous} (no model of it measured end to end before)")
    return lines
