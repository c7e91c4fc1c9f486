"""The report's PNG plots, drawn with matplotlib's object API (no pyplot, no global state).

Each function draws one figure from `autotune.report.data` and writes it to a file; none
reads the database. Figures of many models are small multiples, capped so that a large
job still draws in seconds.

Example::

    path = speedups(data.models, Path("report/speedups.png"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autotune.errors import UserError
from autotune.report.data import Failure, Model

#: At most this many models get a tuning-curve panel, and this many subgraphs per model.
MAX_MODELS = 12
MAX_SUBGRAPHS = 8
DPI = 80
#: Where tuning time goes, in the order the bars stack (keys of a model's profile).
TIME_PARTS = [
    ("worker_startup_s", "worker start"),
    ("compile_s", "compile"),
    ("run_s", "run"),
    ("costmodel_s", "cost model"),
    ("default_s", "default timed"),
    ("baselines_s", "baselines"),
    ("tasks_s", "parallel tasks"),
    ("ours_s", "autotune's own code"),
]
_LINE_STYLES = ["--", ":", "-.", (0, (5, 1)), (0, (1, 1))]


def require_matplotlib() -> None:
    """One UserError line when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError("reports need matplotlib: pip install 'autotune[report]'") from None


def _figure(width: float, height: float) -> Any:
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def _margins(
    fig: Any,
    left: float = 0.9,
    right: float = 0.2,
    top: float = 0.4,
    bottom: float = 0.55,
    hspace: float = 0.0,
    wspace: float = 0.0,
) -> None:
    """Fixed margins in inches (matplotlib's layout engines measure every label: seconds for a
    report of many panels)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h, hspace=hspace, wspace=wspace
    )


def _steps(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """A best-so-far curve reduced to the points where it changes, and its last point."""
    if not xs:
        return xs, ys
    keep = [0] + [i for i in range(1, len(ys)) if ys[i] != ys[i - 1]]
    if keep[-1] != len(xs) - 1:
        keep.append(len(xs) - 1)
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, format="png", dpi=DPI)
    return path


def _ms(values: list[float]) -> list[float]:
    return [v * 1e3 for v in values]


def curves(models: list[Model], path: Path) -> Path | None:
    """Per model, the (estimated end-to-end) best latency so far against trials and against
    the job's wall clock, with the default and the baselines as horizontal lines."""
    shown = [m for m in models if m.curve.best_s][:MAX_MODELS]
    if not shown:
        return None
    fig = _figure(10, 2.6 * len(shown))
    axes = fig.subplots(len(shown), 2, squeeze=False)
    _margins(fig, top=0.3, hspace=0.75, wspace=0.22)
    for (by_trial, by_clock), m in zip(axes, shown):
        for ax, xs, xlabel in (
            (by_trial, m.curve.trials, "trials measured"),
            (by_clock, m.curve.clock_s, "seconds since the job started"),
        ):
            ax.step(
                xs, _ms(m.curve.best_s), where="post", color="C0", linewidth=2, label="tuned, best so far"
            )
            for r, style in zip(m.ratios, _LINE_STYLES):
                if r.baseline_s:
                    ax.axhline(r.baseline_s * 1e3, linestyle=style, color="0.35", label=r.label)
            if m.tuned_s:
                ax.axhline(m.tuned_s * 1e3, color="C2", linewidth=1, label="tuned build, end to end")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("ms")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
        by_trial.set_title(f"{m.name} ({m.compiler})", loc="left", fontsize=10)
        by_clock.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def subgraphs(models: list[Model], path: Path) -> Path | None:
    """Per model, one panel: each subgraph's best latency so far (the largest subgraphs by
    weight x default time) over its default, against the subgraph's own trials."""
    shown = [m for m in models if any(s.curve.best_s for s in m.subgraphs)][:MAX_MODELS]
    if not shown:
        return None
    cols = min(3, len(shown))
    rows = (len(shown) + cols - 1) // cols
    fig = _figure(4.2 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    _margins(fig, left=0.6, top=0.3, hspace=0.55, wspace=0.3)
    for ax, m in zip(axes, shown):
        for s in [s for s in m.subgraphs if s.curve.best_s and s.default_s][:MAX_SUBGRAPHS]:
            x, y = _steps(s.curve.trials, [v / s.default_s for v in s.curve.best_s])  # type: ignore[operator]
            ax.step(x, y, where="post", linewidth=1.5, label=f"{s.name[:28]} x{s.weight}")
        ax.axhline(1.0, linestyle="--", color="0.35")
        ax.set_title(f"{m.name} ({m.compiler})", fontsize=9, loc="left")
        ax.set_xlabel("the subgraph's trials", fontsize=8)
        ax.set_ylabel("best so far / default", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper right")
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    return _save(fig, path)


def speedups(models: list[Model], path: Path) -> Path | None:
    """The tuned build's speedup over the default and over each baseline, per model: the
    median of the paired per-round ratios, whiskers from the lowest to the highest ratio."""
    shown = [m for m in models if m.ratios]
    if not shown:
        return None
    labels = list(dict.fromkeys(r.label for m in shown for r in _headline_first(m)))
    color = {label: f"C{i}" for i, label in enumerate(labels)}
    fig = _figure(max(5.0, 1.2 * sum(len(m.ratios) for m in shown) + 2), 3.6)
    ax = fig.subplots()
    _margins(fig, bottom=0.6)
    width = 0.8 / max(len(m.ratios) for m in shown)
    drawn: set[str] = set()
    for j, m in enumerate(shown):
        ratios = _headline_first(m)
        for i, r in enumerate(ratios):
            x = j + (i - (len(ratios) - 1) / 2) * width
            err = [[max(0.0, r.speedup - r.low)], [max(0.0, r.high - r.speedup)]]
            label = None if r.label in drawn else f"over {r.label}"
            drawn.add(r.label)
            ax.bar([x], [r.speedup], width, yerr=err, capsize=3, label=label, color=color[r.label])
            ax.annotate(f"{r.speedup:.2f}x", (x, r.high), ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(shown)), [f"{m.name}\n({m.compiler})" for m in shown], fontsize=8)
    ax.set_ylabel("tuned build's speedup (x, log scale)")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _headline_first(m: Model) -> list[Any]:
    """What users run instead first, the compiler's default last (for TVM, its untuned build
    is a number to show, never the headline)."""
    return [r for r in m.ratios if r is not m.vs_default] + ([m.vs_default] if m.vs_default else [])


def time_split(models: list[Model], path: Path) -> Path | None:
    """Where each model's tuning time went, stacked."""
    shown = [m for m in models if m.profile and any(m.profile.get(k) for k, _ in TIME_PARTS)]
    if not shown:
        return None
    fig = _figure(8, 0.5 * len(shown) + 1.6)
    ax = fig.subplots()
    _margins(fig, left=1.9, top=0.75)
    left = [0.0] * len(shown)
    for i, (key, label) in enumerate(TIME_PARTS):
        values = [float(m.profile.get(key) or 0.0) for m in shown]
        ax.barh(range(len(shown)), values, left=left, label=label, color=f"C{i}")
        left = [a + b for a, b in zip(left, values)]
    ax.set_yticks(range(len(shown)), [f"{m.name} ({m.compiler})" for m in shown], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.legend(fontsize=7, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return _save(fig, path)


def decisions(models: list[Model], path: Path, shown: int = 16) -> Path | None:
    """The measured contribution of each decision of the bests (the best without it / the
    best, timed interleaved; a one-decision best: its speedup over the default)."""
    rows = sorted(((m, d) for m in models for d in m.decisions), key=lambda md: -abs(md[1].ratio - 1.0))[
        :shown
    ]
    if not rows:
        return None
    fig = _figure(10, 0.32 * len(rows) + 1.2)
    ax = fig.subplots()
    _margins(fig, left=4.6, top=0.2)
    ax.barh(
        range(len(rows)),
        [d.ratio for _, d in rows],
        color=["C2" if d.ratio >= 1 else "C3" for _, d in rows],
    )
    ax.set_yticks(
        range(len(rows)), [f"{m.name}: {d.decision[:48]} ({d.subgraph[:20]})" for m, d in rows], fontsize=7
    )
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("contribution (x): the best without it / the best")
    return _save(fig, path)


def failures(found: list[Failure], path: Path) -> Path | None:
    """Failed outcomes by kind."""
    if not found:
        return None
    fig = _figure(6, 0.4 * len(found) + 1.0)
    ax = fig.subplots()
    _margins(fig, left=1.3, top=0.2)
    ax.barh(range(len(found)), [f.count for f in found], color="C3")
    ax.set_yticks(range(len(found)), [f.kind for f in found], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("outcomes")
    return _save(fig, path)
