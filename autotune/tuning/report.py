"""What a tuning job reports: one row per model, printed as a table at the end of the job,
and how a tuned build is put beside what its users would run instead (its baselines: a TVM
model's PyTorch eager and torch.compile), here and in `autotune best`.

Example::

    report = run_job(spec)
    print(report.table())
    print(json.dumps(report.as_dict()))    # the same, as `autotune tune --json` prints it
    print(versus(1.8, "PyTorch eager"))   # '1.80x faster than PyTorch eager'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from autotune.compare import WIN_MARGIN, paired_spread


def versus(speedup: float, label: str) -> str:
    """A paired baseline/tuned ratio in words: '1.80x faster than PyTorch eager', '0.41x of
    PyTorch eager: slower', or 'on par with PyTorch eager (1.01x)' within the win margin."""
    if speedup * (1.0 - WIN_MARGIN) > 1.0:
        return f"{speedup:.2f}x faster than {label}"
    if speedup / (1.0 - WIN_MARGIN) < 1.0:
        return f"{speedup:.2f}x of {label}: slower"
    return f"on par with {label} ({speedup:.2f}x)"


def slower_line(speedup: float, label: str) -> str | None:
    """One plain line when the tuned build lost to a baseline by more than the win margin."""
    if speedup / (1.0 - WIN_MARGIN) >= 1.0:
        return None
    return f"tuned build is {1.0 / speedup:.1f}x slower than {label} on this target"


def baseline_view(row: dict[str, Any], label: str) -> dict[str, Any]:
    """A stored baseline (`TuningDatabase.baselines`) as the reports show it."""
    return {
        "name": row["name"],
        "label": label,
        "status": row["status"],
        "baseline_s": row["median_s"],
        "tuned_s": row["tuned_median_s"],
        "speedup": row["speedup"],
        "rounds": len(row["samples"]),
        "spread": paired_spread(row["samples"], row["tuned_samples"]),
        "error": row["error"],
        "version": row["version"],
        "setup_s": row["setup_s"],
        "job_id": row["job_id"],
        "measured_at": row["created_at"],
    }


def baseline_text(b: dict[str, Any], job_id: int | None = None) -> str:
    """One baseline in a line: 'PyTorch eager 0.210 ms: 1.80x faster than PyTorch eager
    (10 rounds, middle half 1.71-1.92x)'; a measurement of another job than `job_id` (its
    tuned build of then) says which job."""
    if b["status"] != "ok":
        what = "unavailable" if b["status"] == "unavailable" else "not compared"
        return f"{b['label']}: {what}: {b['error'] or b['status']}"
    text = f"{b['label']} {b['baseline_s'] * 1e3:.3f} ms: {versus(b['speedup'], b['label'])}"
    notes = []
    if b.get("spread"):
        lo, hi = b["spread"]
        notes.append(f"{b['rounds']} rounds, middle half {lo:.2f}-{hi:.2f}x")
    if b["setup_s"]:
        notes.append(f"compiled in {b['setup_s']:.1f} s")
    if notes:
        text += f" ({'; '.join(notes)})"
    if job_id is not None and b["job_id"] != job_id:
        text += f", measured in job {b['job_id']} against its tuned build"
    return text


def gain_text(first: int, shares: list, shown: int = 3) -> str:
    """How a model's budget was spent: '32 trials by default time, 32 by expected gain: 16 to
    fused_conv2d (saved 0.041 ms per run), ...' (the largest `shown` shares)."""
    total = sum(g.trials for g in shares)
    parts = [f"{g.trials} to {g.name} (saved {g.saved_s * 1e3:.3f} ms per run)" for g in shares[:shown]]
    more = f", {len(shares) - shown} more" if len(shares) > shown else ""
    return f"{first} trials by default time, {total} by expected gain: {', '.join(parts)}{more}"


@dataclass
class ModelResult:
    name: str
    backend: str
    status: str = "failed"  # 'tuned' | 'skipped' | 'partial' | 'failed'
    subgraphs: int = 0
    trials: int = 0
    failures: int = 0
    default_s: float | None = None
    tuned_s: float | None = None
    speedup: float | None = None
    error: str = ""
    best: list[str] | None = None  # a one-workload model: its best decisions ([] = the default)
    note: str = ""  # e.g. a best that the end-to-end comparison did not confirm
    profile: dict | None = None  # where tuning time went (seconds), when the backend tells
    baselines: list[dict] = field(default_factory=list)  # `baseline_view`s, PyTorch eager first
    first_pass: int = 0  # trials spread by default time
    by_gain: list = field(default_factory=list)  # `plan.GainShare`s: the rest, by expected gain
    graph: str = ""  # what the joint search found (`joint.summary`), when it ran
    seconds: float = 0.0  # the model's wall-clock in the job, tuning and measuring

    def as_dict(self) -> dict[str, Any]:
        """The row as plain data (`autotune tune --json`): every field, seconds as seconds;
        `by_gain` as {name, trials, saved_s} dicts."""
        return asdict(self)


@dataclass
class JobReport:
    job_id: int
    database: str
    seconds: float
    models: list[ModelResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(m.status != "failed" for m in self.models)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (`autotune tune --json`): what `table` prints, every field."""
        return {
            "job_id": self.job_id,
            "database": self.database,
            "seconds": self.seconds,
            "ok": self.ok,
            "models": [m.as_dict() for m in self.models],
        }

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
                rows.append(f"  best: {', '.join(m.best) or 'the compiler default'}")
            if m.note:
                rows.append(f"  note: {m.note}")
            for b in m.baselines:
                rows.append(f"  vs {baseline_text(b, self.job_id)}")
            if m.by_gain:
                rows.append(f"  budget: {gain_text(m.first_pass, m.by_gain)}")
            if m.graph:
                rows.append(f"  graph: {m.graph}")
            p = m.profile
            if p and p["compile_s"] + p["run_s"] > 0:
                rows.append(
                    f"  time {p['total_s']:.1f} s: worker start {p['worker_startup_s']:.1f}, compile "
                    f"{p['compile_s']:.1f}, run {p['run_s']:.1f}, cost model {p['costmodel_s']:.1f}"
                    + (f", default timed {p['default_s']:.1f}" if p.get("default_s") else "")
                    + (f", baselines {p['baselines_s']:.1f}" if p.get("baselines_s") else "")
                    + (f", parallel tasks {p['tasks_s']:.1f}" if p.get("tasks_s") else "")
                    + f", autotune {p['ours_s']:.1f}"
                    + (f"; cost model ranked {p['ranked']} proposals" if p.get("ranked") else "")
                )
        rows.append(f"job {self.job_id} in {self.seconds:.0f} s, database {self.database}")
        return "\n".join(rows)
