"""`autotune space MODEL`: every decision the passes and searches offer for a model.

Graph level (the whole model: TVM's conv layouts, ops kept out of fusion, operator forms;
XLA's compiler options and HLO passes) and subgraph level (per fused subgraph: TVM's
MetaSchedule sketches, tile sizes and sampled extents; XLA's per-tensor layouts and fusion
cuts, rewritten into the traced program), each with
its kind, choices and default, and the size of the space. Nothing is measured and no
database is touched: the model is only imported and fused.

autotune space convnet
autotune space mlp --backend xla --json
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from autotune import backends
from autotune.tuning.jobfile import DEFAULT_BACKEND

#: Choices shown per decision in the table (the JSON has all of them).
SHOWN_CHOICES = 4


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="list the decisions the tuner can make for a model")
    p.add_argument("model", help="a zoo name or module:function")
    p.add_argument("--backend", choices=backends.names(), default=DEFAULT_BACKEND, help="compiler")
    p.add_argument("--target", help="'llvm' (this CPU, default) or a JSON dict of TVM target attributes")
    p.add_argument("--json", action="store_true", help="machine-readable output, every choice")
    p.set_defaults(run=run)


def _decision(d: Any) -> dict[str, Any]:
    return {
        "name": d.name,
        "level": d.level,
        "kind": d.kind,
        "choices": list(d.choices),
        "default": d.default,
        "doc": d.doc,
    }


def describe(backend: str, source: str, target: str | None = None) -> dict[str, Any]:
    """The space of a model as plain data (what `space` prints)."""
    from autotune.db.sqlite import SQLiteDatabase
    from autotune.passes import space_size

    be = backends.get(backend)
    loaded = be.load_model(source)
    tgt = be.resolve_target(target or "llvm")
    with tempfile.TemporaryDirectory(prefix="autotune-space-") as tmp:
        db = SQLiteDatabase(Path(tmp) / "space.sqlite")  # sessions need one; nothing is kept
        try:
            with be.open(tgt, db, None) as session:
                model = session.load(source, loaded)
                graph = session.graph_decisions(model)
                subgraphs = []
                for w in session.workloads(model):
                    decisions, size = session.space(w)
                    subgraphs.append(
                        {
                            "name": w.name,
                            "fingerprint": w.fingerprint,
                            "weight": w.weight,
                            "size": size,
                            "decisions": [_decision(d) for d in decisions],
                        }
                    )
        finally:
            db.close()
    graph_size = space_size(graph)
    log10 = math.log10(graph_size) + sum(math.log10(max(1, s["size"])) for s in subgraphs)
    return {
        "model": source,
        "backend": backend,
        "graph": {"size": graph_size, "decisions": [_decision(d) for d in graph]},
        "subgraphs": subgraphs,
        "log10_size": log10,
    }


def _choices(d: dict[str, Any]) -> str:
    shown = ", ".join(json.dumps(c) for c in d["choices"][:SHOWN_CHOICES])
    more = len(d["choices"]) - SHOWN_CHOICES
    return f"{len(d['choices'])}: {shown}{f', ... (+{more})' if more > 0 else ''}"


def _columns(rows: list[list[str]]) -> str:
    """Rows as left-aligned columns, each as wide as its widest cell."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def tabulate(rows: list[list[str]], header: list[str]) -> str:
    return _columns([header, *rows])


def text(space: dict[str, Any]) -> str:
    header = ["level", "kind", "decision", "choices", "default"]

    def rows(decisions: list[dict[str, Any]]) -> list[list[str]]:
        return [[d["level"], d["kind"], d["name"], _choices(d), json.dumps(d["default"])] for d in decisions]

    g = space["graph"]
    out = [
        f"{space['model']} ({space['backend']}): {len(g['decisions'])} graph-level decision(s), "
        f"{len(space['subgraphs'])} subgraph(s); "
        f"the joint space has about 10^{space['log10_size']:.1f} configs",
        "",
        f"graph level ({g['size']} configs)",
        tabulate(rows(g["decisions"]), header) if g["decisions"] else "  none",
    ]
    for s in space["subgraphs"]:
        out += [
            "",
            f"{s['name']} (x{s['weight']}, {s['fingerprint']}): {s['size']} configs",
            tabulate(rows(s["decisions"]), header) if s["decisions"] else "  none",
        ]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    space = describe(args.backend, args.model, args.target)
    print(json.dumps(space, indent=2) if args.json else text(space))
    return 0
