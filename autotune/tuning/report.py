"""What a tuning job reports: one row per model, printed as a table at the end of the job.

Example::

    report = run_job(spec)
    print(report.table())
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
                rows.append(f"  best: {', '.join(m.best) or 'the compiler default'}")
            if m.note:
                rows.append(f"  note: {m.note}")
            p = m.profile
            if p and p["compile_s"] + p["run_s"] > 0:
                rows.append(
                    f"  time {p['total_s']:.1f} s: worker start {p['worker_startup_s']:.1f}, compile "
                    f"{p['compile_s']:.1f}, run {p['run_s']:.1f}, cost model {p['costmodel_s']:.1f}, "
                    f"autotune {p['ours_s']:.1f}"
                    + (f"; cost model ranked {p['ranked']} proposals" if p.get("ranked") else "")
                )
        rows.append(f"job {self.job_id} in {self.seconds:.0f} s, database {self.database}")
        return "\n".join(rows)
