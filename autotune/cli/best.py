"""`autotune best MODEL`: a model's best schedule per subgraph, and its end-to-end speedup.

autotune best convnet
autotune best convnet --json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from autotune.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("best", help="print a model's best schedules from the database")
    p.add_argument("model", help="model name as tuned (e.g. convnet)")
    p.add_argument(
        "--target",
        help="target id in the database, 'llvm' for this CPU, or a JSON dict "
        "(default: the target the model was last measured on)",
    )
    p.add_argument("--backend", choices=["tvm", "xla"], help="which compiler's model, when both have one")
    p.add_argument("--db", help="database file (default: the embedded default)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def describe_trace(config: Any) -> list[str]:
    """The sampled decisions of a MetaSchedule trace, e.g. 'SamplePerfectTile=[4, 1, 2, 16]'."""
    trace = config.get("trace") if isinstance(config, dict) else None
    if not isinstance(trace, list) or len(trace) != 2:
        return []
    insts, decisions = trace
    out = []
    for idx, value in decisions:
        if isinstance(idx, int) and 0 <= idx < len(insts):
            out.append(f"{insts[idx][0]}={value}")
    return out


def _resolve_target(db: Any, model: dict, spec: str | None) -> int:
    if spec is None:
        row = db.conn.execute(
            "SELECT m.target_id FROM model_workloads mw CROSS JOIN configs c ON mw.workload_id=c.workload_id"
            " CROSS JOIN measurements m ON c.id=m.config_id WHERE mw.model_id=?"
            " ORDER BY m.created_at DESC LIMIT 1",
            (model["id"],),
        ).fetchone()
        if row is None:
            raise UserError(f"model {model['name']!r} has no measurements yet")
        return int(row[0])
    if spec.isdigit():
        if db.conn.execute("SELECT 1 FROM targets WHERE id=?", (int(spec),)).fetchone() is None:
            raise UserError(f"no target with id {spec} in the database")
        return int(spec)
    if model["compiler"] == "xla":
        from autotune.backends.xla.workload import resolve_platform
        from autotune.backends.xla.workload import target_info as xla_target_info

        info = xla_target_info(resolve_platform(spec))
    else:
        from autotune.backends.tvm.workload import resolve_target, target_info

        info = target_info(resolve_target(spec))
    tid = db.find_target(info)
    if tid is None:
        raise UserError(f"nothing tuned for target {spec!r} in this database")
    return tid


def _schedule(compiler: str, b: Any) -> Any:
    """How a best config reads: TVM trace decisions, or XLA decisions by name."""
    if b is None or b.kind == "default":
        return "default"
    if compiler == "xla":
        return [f"{k}={v}" for k, v in b.config.items()]
    return describe_trace(b.config) or "fixed (the design space samples nothing)"


def summary(db: Any, name: str, target: str | None, backend: str | None = None) -> dict[str, Any]:
    """Everything `best` prints, as plain data."""
    model = db.model(name, backend)
    if model is None:
        known = ", ".join(f"{m['name']} ({m['compiler']})" for m in db.models()) or "none"
        raise UserError(f"unknown model {name!r} in this database (known: {known})")
    tid = _resolve_target(db, model, target)
    info = db.target_info(tid)
    subgraphs = []
    for w, weight in model["workloads"]:
        if model["compiler"] == "xla":  # only a config that won its confirmation is the best
            b = db.confirmed_best(w["id"], tid)
        else:
            best = db.best(w["id"], tid, 1)
            b = best[0] if best else None
        default = db.default_latency(w["id"], tid)
        subgraphs.append(
            {
                "workload": w["name"],
                "fingerprint": w["fingerprint"],
                "weight": weight,
                "best_s": b.median if b else None,
                "default_s": default,
                "speedup": (default / b.median) if (b and default) else None,
                "confirmed_speedup": db.confirmed_speedup(w["id"], tid),
                "tuned": db.is_tuned(w["id"], tid),
                "trials": db.count(w["id"], tid),
                "schedule": _schedule(model["compiler"], b),
            }
        )
    e2e = db.latest_model_measurement(model["id"], tid)
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
        },
    }


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
    ms = lambda v: f"{v * 1e6:.1f}" if v is not None else "-"
    print(
        f"{'subgraph':<44}{'x':>3}{'best us':>10}{'default us':>12}{'speedup':>9}{'paired':>8}"
        f"{'trials':>8}  schedule"
    )
    for s in data["subgraphs"]:
        sched = s["schedule"] if isinstance(s["schedule"], str) else "; ".join(s["schedule"])
        sp = f"{s['speedup']:.2f}x" if s["speedup"] else "-"
        paired = f"{s['confirmed_speedup']:.2f}x" if s["confirmed_speedup"] else "-"
        print(
            f"{s['workload'][:43]:<44}{s['weight']:>3}{ms(s['best_s']):>10}{ms(s['default_s']):>12}{sp:>9}"
            f"{paired:>8}{s['trials']:>8}  {sched}"
        )
    print(
        "speedup: default over best median, both timed by the tuning runner; paired: the best "
        "re-timed interleaved with the default after its outputs were checked"
    )
    e = data["end_to_end"]
    if e:
        print(
            f"end to end: tuned {e['tuned_s'] * 1e3:.3f} ms vs default {e['default_s'] * 1e3:.3f} ms: "
            f"{e['speedup']:.2f}x (median of paired ratios, interleaved)"
        )
    else:
        print("end to end: not measured yet")
    return 0
