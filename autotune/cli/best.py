"""`autotune best MODEL`: a model's kept schedule per subgraph (its confirmed best, else the
default; and its graph-level config, where the joint search kept one), what each decision of a
best contributes (measured by removing it), its end-to-end speedup, and how the tuned build
compares with what its users would run instead (its baselines: a TVM model's PyTorch eager and
torch.compile), each timed interleaved with the tuned build.

autotune best convnet
autotune best convnet --json
"""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any

from autotune import backends
from autotune.compare import WIN_MARGIN
from autotune.errors import UserError
from autotune.tuning.report import baseline_text, baseline_view, slower_line


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("best", help="print a model's best schedules from the database")
    p.add_argument("model", help="model name as tuned (e.g. convnet)")
    p.add_argument(
        "--target",
        help="target id in the database, 'llvm' for this CPU, or a JSON dict "
        "(default: the target the model was last measured on)",
    )
    p.add_argument(
        "--backend", choices=backends.names(), help="which compiler's model, when several have one"
    )
    p.add_argument("--db", help="database file (default: the embedded default)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def _resolve_target(db: Any, model: dict, spec: str | None) -> int:
    if spec is None:
        tid = db.latest_target(model["id"])
        if tid is None:
            raise UserError(f"model {model['name']!r} has no measurements yet")
        return tid
    if spec.isdigit():
        if not db.has_target(int(spec)):
            raise UserError(f"no target with id {spec} in the database")
        return int(spec)
    be = backends.get(model["compiler"])
    tid = db.find_target(be.describe(be.resolve_target(spec)))
    if tid is None:
        raise UserError(f"nothing tuned for target {spec!r} in this database")
    return tid


def summary(db: Any, name: str, target: str | None, backend: str | None = None) -> dict[str, Any]:
    """Everything `best` prints, as plain data."""
    model = db.model(name, backend)
    if model is None:
        known = ", ".join(f"{m['name']} ({m['compiler']})" for m in db.models()) or "none"
        raise UserError(f"unknown model {name!r} in this database (known: {known})")
    be = backends.get(model["compiler"])
    tid = _resolve_target(db, model, target)
    info = db.target_info(tid)
    subgraphs = []
    for w, weight in model["workloads"]:
        b = db.best(w["id"], tid)  # the one rule: a confirmed win over the default, or None
        last = db.confirmation(w["id"], tid)
        # With a best, both latencies are from its confirmation (one interleaved run).
        default = last.default_median if b and last else db.default_latency(w["id"], tid)
        subgraphs.append(
            {
                "workload": w["name"],
                "fingerprint": w["fingerprint"],
                "weight": weight,
                "best_s": b.median if b else None,
                "default_s": default,
                "speedup": b.speedup if b else None,
                # What the compiler applies: the best, or the default (its speedup 1 by definition).
                "kept": "tuned" if b else "default",
                "kept_s": b.median if b else default,
                "kept_speedup": b.speedup if b else 1.0,
                # The latest candidate re-timed interleaved with the default; its speedup is
                # default / candidate (paired): under 1, the candidate was slower.
                "last_confirmation": None
                if last is None
                else {
                    "speedup": last.speedup,
                    "won": last.won(),
                    "kept": b is not None and b.config_id == last.config_id,
                    "candidate_s": last.median,
                    "default_s": last.default_median,
                    "schedule": be.describe_config(last.config),
                },
                "tuned": db.is_tuned(w["id"], tid),
                "trials": db.count(w["id"], tid),
                "schedule": be.describe_config(b.config) if b else "default",
                # Measured by removing each decision from the best (confirm.ablate).
                "contributions": db.contributions(w["id"], tid, b.config) if b else {},
            }
        )
    e2e = db.latest_model_measurement(model["id"], tid)
    stored = db.baselines(model["id"], tid)
    return {
        "model": name,
        "compiler": model["compiler"],
        "target_id": tid,
        "target": info.as_dict(),
        "subgraphs": subgraphs,
        "end_to_end": None
        if e2e is None
        else {
            "default_s": e2e["default_median"],
            "tuned_s": e2e["tuned_median"],
            "speedup": e2e["speedup"],
            "measured_at": e2e["created_at"],
            "job_id": e2e["job_id"],
        },
        # Measured on this host, each interleaved with the tuned build of its moment.
        "baselines": [baseline_view(stored[n], label) for n, label in be.baselines.items() if n in stored],
    }


#: The table's columns, and how each is aligned ('<' left, '>' right).
COLUMNS = [
    ("subgraph", "<"),
    ("x", ">"),
    ("best us", ">"),
    ("default us", ">"),
    ("speedup", ">"),
    ("kept", "<"),
    ("trials", ">"),
    ("last candidate", "<"),
    ("schedule", "<"),
]

LEGEND = textwrap.fill(
    "legend: x = runs per model run; best us = latency of the kept config (the default's when "
    "the default is kept); default us = the default's latency; speedup = default / kept, median "
    "of paired ratios (1.00x when the default is kept); kept = tuned (a candidate beat the default "
    f"by at least {WIN_MARGIN:.0%} re-timed interleaved with it in one process, outputs checked) or "
    "default; trials = candidates measured while tuning; last candidate = the latest candidate "
    "re-timed against the default: default / candidate (under 1.00x: slower) and its outcome; "
    "schedule = the kept config. With a tuned config, best us, default us and speedup are from "
    "that interleaved comparison; with the default kept, default us is the tuning runner's.",
    width=100,
    subsequent_indent="  ",
    break_on_hyphens=False,
)


def _us(seconds: float | None) -> str:
    return f"{seconds * 1e6:.1f}" if seconds is not None else "-"


def last_candidate(s: dict[str, Any]) -> str:
    """The latest confirmation of a subgraph in words, its ratio default / candidate first:
    '1.35x: won, kept', '0.02x (50.0x slower): lost, default kept', '0.95x (1.05x slower):
    lost, default kept', '1.01x: under the 2% margin, default kept'."""
    c = s["last_confirmation"]
    if c is None:
        return "-"
    ratio = f"{c['speedup']:.2f}x"
    if c["won"]:
        return (
            f"{ratio}: won, kept" if c["kept"] else f"{ratio}: won, then failed an output check: default kept"
        )
    if c["speedup"] < 1.0:
        slower = 1.0 / c["speedup"]
        return f"{ratio} ({slower:.{2 if slower < 10 else 1}f}x slower): lost, default kept"
    return f"{ratio}: under the {WIN_MARGIN:.0%} margin, default kept"


def _columns(columns: list[tuple[str, str]], rows: list[list[str]]) -> str:
    """A header and rows, each column as wide as its widest cell (the last one not padded)."""
    table = [[name for name, _ in columns], *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    return "\n".join(
        "  ".join(f"{cell:{align}{w}}" for cell, (_, align), w in zip(r, columns, widths)).rstrip()
        for r in table
    )


def run(args: argparse.Namespace) -> int:
    from autotune.db import default_path, open_db

    with open_db(args.db or default_path(), readonly=True) as db:
        data = summary(db, args.model, args.target, args.backend)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    t = data["target"]
    print(
        f"{data['model']} on {t['device_model']} "
        f"({t['compiler']} {t['compiler_version']}, target {data['target_id']})"
    )
    rows = [
        [
            s["workload"][:43],
            str(s["weight"]),
            _us(s["kept_s"]),
            _us(s["default_s"]),
            f"{s['kept_speedup']:.2f}x",
            s["kept"],
            str(s["trials"]),
            last_candidate(s),
            s["schedule"] if isinstance(s["schedule"], str) else "; ".join(s["schedule"]),
        ]
        for s in data["subgraphs"]
    ]
    print(_columns(COLUMNS, rows))
    print(LEGEND)
    # A best of one decision contributes its speedup, in its row already.
    explained = [s for s in data["subgraphs"] if len(s["contributions"]) > 1]
    if explained:
        print("what each decision of a best contributes: the best without it / the best, timed interleaved")
        for s in explained:
            parts = [f"{k} {v:.2f}x" for k, v in s["contributions"].items()]
            print(f"  {s['workload'][:43]}: " + ", ".join(parts))
    e = data["end_to_end"]
    if e:
        print(
            f"end to end: tuned {e['tuned_s'] * 1e3:.3f} ms vs default {e['default_s'] * 1e3:.3f} ms: "
            f"{e['speedup']:.2f}x (median of paired ratios, interleaved)"
        )
    else:
        print("end to end: not measured yet")
    if data["baselines"]:
        print("vs what users run instead, each timed interleaved with the tuned build (paired ratios):")
    elif backends.get(data["compiler"]).baselines:
        print("vs what users run instead: not measured on this host yet")
    for b in data["baselines"]:
        print(f"  {baseline_text(b, e['job_id'] if e else None)}")
    for b in data["baselines"]:
        plain = slower_line(b["speedup"], b["label"]) if b["status"] == "ok" else None
        if plain:
            print(plain)
    return 0
