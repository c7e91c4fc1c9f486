"""The report as a document: one list of blocks (headings, text, tables, plots), written out
twice, as a self-contained HTML page (CSS inline, PNGs inlined as data: URIs: it opens with
no network) and as Markdown beside the PNG files.

Example::

    paths = write_report(db, "report/", job_id=12)
    # report/report.html, report/report.md, report/*.png
"""

from __future__ import annotations

import base64
import datetime
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autotune.errors import UserError
from autotune.report import plots
from autotune.report.data import ReportData, collect
from autotune.report.plots import TIME_PARTS


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Text:
    text: str


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Plot:
    path: Path
    alt: str


Block = Heading | Text | Table | Plot


@dataclass
class ReportPaths:
    html: Path
    markdown: Path
    plots: list[Path]


def check_out(out_dir: str | Path) -> Path:
    """The report folder, refused (one UserError line) when it is a file or matplotlib is
    missing: what a job checks before any work, and `write_report` before it reads."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    plots.require_matplotlib()
    return out


def write_report(
    db: Any, out_dir: str | Path, job_id: int | None = None, models: list[str] | None = None
) -> ReportPaths:
    """Write the report of a job (None: the latest; `models`: only these) into `out_dir`."""
    out = check_out(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the report folder ({exc.strerror or exc})") from None
    data = collect(db, job_id, models)
    blocks = document(data, out)
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text(to_html(blocks, f"autotune job {data.job['id']}"))
    md_path.write_text(to_markdown(blocks, out))
    return ReportPaths(html_path, md_path, [b.path for b in blocks if isinstance(b, Plot)])


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1e3:.3f}"


def _when(t: float | None) -> str:
    return "-" if not t else datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def document(data: ReportData, out: Path) -> list[Block]:
    """The report's content, in order; plots are drawn into `out` as it goes."""
    job = data.job
    took = (job["finished_at"] or data.generated_at) - job["started_at"]
    b: list[Block] = [
        Heading(f"autotune job {job['id']}: {job['status']}", 1),
        Text(
            f"Started {_when(job['started_at'])} on {job['host'] or 'an unknown host'}, "
            f"{'finished ' + _when(job['finished_at']) if job['finished_at'] else 'not finished'} "
            f"({took:.0f} s). {data.measurements} measurements. Database: {data.database}. "
            f"Report made {_when(data.generated_at)}."
        ),
    ]
    if data.targets:
        b.append(Text("Targets: " + "; ".join(data.targets) + "."))
    b += [Heading("Models"), _summary(data)]
    for m in data.models:
        if m.error or m.note:
            b.append(Text(f"{m.name} ({m.compiler}): {m.error or m.note}"))
    b += _speedups(data, out)
    b += _curves(data, out)
    b += _time(data, out)
    b += _decisions(data, out)
    b += _failures(data, out)
    b += [Heading("What changed since the job before")]
    b += [Text(line) for line in data.changes]
    return b


def _summary(data: ReportData) -> Table:
    rows = []
    for m in data.models:
        vs_default = m.vs_default
        others = [f"{r.speedup:.2f}x over {r.label}" for r in m.ratios if r is not vs_default]
        rows.append(
            [
                m.name,
                m.compiler,
                m.status or "-",
                str(m.trials),
                str(m.failures),
                _ms(m.tuned_s),
                ", ".join(others) or "-",
                _ms(m.default_s),
                f"{vs_default.speedup:.2f}x" if vs_default else "-",
                "-" if m.seconds is None else f"{m.seconds:.0f}",
            ]
        )
    return Table(
        [
            "model",
            "compiler",
            "status",
            "trials",
            "failed",
            "tuned ms",
            "vs what users run instead",
            "default ms",
            "speedup over the default",
            "seconds",
        ],
        rows,
    )


def _speedups(data: ReportData, out: Path) -> list[Block]:
    path = plots.speedups(data.models, out / "speedups.png")
    if path is None:
        return [Heading("Speedups"), Text("No model was measured end to end in this job.")]
    rows = [
        [
            m.name,
            r.label,
            "-" if r.baseline_s is None else _ms(r.baseline_s),
            f"{r.speedup:.2f}x",
            f"{r.low:.2f}x to {r.high:.2f}x",
            str(r.rounds),
            "this job" if r.job_id == data.job["id"] else f"job {r.job_id}",
        ]
        for m in data.models
        for r in m.ratios
    ]
    return [
        Heading("Speedups"),
        Text(
            "Each comparison times the tuned build and the other interleaved in one process, "
            "round by round; the speedup is the median of the per-round ratios (other / tuned), "
            "the whiskers the lowest and highest ratio."
        ),
        Plot(path, "tuned build's speedup per model"),
        Table(["model", "over", "its ms", "speedup", "per-round range", "rounds", "measured in"], rows),
    ]


def _curves(data: ReportData, out: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Tuning curves")]
    path = plots.curves(data.models, out / "curves.png")
    if path is None:
        return blocks + [Text("No model was tuned in this job (nothing to plot).")]
    scales = sorted({m.curve_scale for m in data.models if m.curve_scale})
    blocks += [
        Text(
            "Best latency so far against trials and against the job's clock, per model. The model's "
            "curve is " + "; or ".join(scales) + ". Lines: the default and what users run instead, "
            "end to end."
        ),
        Plot(path, "tuning curves per model"),
    ]
    p = plots.subgraphs(data.models, out / "subgraphs.png")
    if p is not None:
        blocks += [
            Heading("Per subgraph", 3),
            Text(
                f"Each model's largest subgraphs (at most {plots.MAX_SUBGRAPHS}, by weight x default "
                "time): best latency so far over the subgraph's default, against its own trials."
            ),
            Plot(p, "tuning curves per subgraph"),
        ]
    if len(data.models) > plots.MAX_MODELS:
        blocks.append(Text(f"Plotted: the first {plots.MAX_MODELS} of {len(data.models)} models."))
    return blocks


def _time(data: ReportData, out: Path) -> list[Block]:
    path = plots.time_split(data.models, out / "time.png")
    if path is None:
        return [Heading("Where the time went"), Text("No tuning time was recorded in this job.")]
    header = ["model"] + [label for _, label in TIME_PARTS] + ["total"]
    rows = [
        [m.name]
        + [f"{float(m.profile.get(k) or 0):.1f}" for k, _ in TIME_PARTS]
        + [f"{float(m.profile.get('total_s') or 0):.1f}"]
        for m in data.models
        if m.profile
    ]
    return [
        Heading("Where the time went"),
        Text("Seconds of each model's tuning, by what it was spent on."),
        Plot(path, "tuning time by part"),
        Table(header, rows),
    ]


def _decisions(data: ReportData, out: Path) -> list[Block]:
    path = plots.decisions(data.models, out / "decisions.png")
    if path is None:
        return [Heading("Which decisions mattered"), Text("No best config with measured contributions.")]
    rows = [[m.name, d.subgraph, d.decision, f"{d.ratio:.2f}x"] for m in data.models for d in m.decisions]
    return [
        Heading("Which decisions mattered"),
        Text(
            "Each decision of a best config removed in turn and timed interleaved against the best: "
            "the best without it / the best (above 1: it helps). A best of one decision, or a tuned "
            "schedule, shows its speedup over the default."
        ),
        Plot(path, "contribution of each decision"),
        Table(["model", "subgraph", "decision", "contribution"], rows),
    ]


def _failures(data: ReportData, out: Path) -> list[Block]:
    path = plots.failures(data.failures, out / "failures.png")
    if path is None:
        return [Heading("Failures"), Text("None: every candidate built, ran and gave the right result.")]
    return [
        Heading("Failures"),
        Plot(path, "failures by kind"),
        Table(
            ["kind", "count", "first seen in", "first error"],
            [[f.kind, str(f.count), f.where, f.first_error or "-"] for f in data.failures],
        ),
    ]


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3} img{max-width:100%;display:block;margin:1em 0}
"""


def to_html(blocks: list[Block], title: str) -> str:
    """A self-contained page: no script, no external asset (the plots are data: URIs)."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Text):
            parts.append(f"<p>{e(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{e(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in b.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Plot):
            data = base64.b64encode(b.path.read_bytes()).decode("ascii")
            parts.append(f'<img alt="{e(b.alt)}" src="data:image/png;base64,{data}">')
    parts.append("</body></html>")
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block], out: Path) -> str:
    """The same content as Markdown; plots are linked by their file names in `out`."""
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Text):
            lines += [b.text, ""]
        elif isinstance(b, Table):
            lines.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            lines.append("|" + "---|" * len(b.header))
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
            lines.append("")
        elif isinstance(b, Plot):
            lines += [f"![{b.alt}]({b.path.relative_to(out)})", ""]
    return "\n".join(lines)
