"""`autotune db`: inspect, check, export, import and merge tuning databases.

Usage::

    autotune db stats [--json] [--db PATH]
    autotune db check [--db PATH]
    autotune db export --format metaschedule OUT_DIR [--target-id N] [--force] [--db PATH]
    autotune db import --format metaschedule IN_DIR [--db PATH]
    autotune db merge OTHER.sqlite [--db PATH]
    autotune db verify [--backend B] [--target T] [--time-budget S] [--db PATH]
    autotune db query SQL [--table | --json | --csv] [-p NAME=VALUE] [--db PATH]   (cli/db_query.py)

Read commands (stats, check, export) open the database read-only and never create it. Bad
input ends in one line on stderr and a non-zero exit; a refused file is left untouched.
TVM is imported only by export and import.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from autotune import backends
from autotune.cli import db_query
from autotune.db import SQLiteDatabase, default_path, open_db
from autotune.db.records import STATUSES, DatabaseError
from autotune.errors import UserError

FORMATS = ("metaschedule",)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        type=Path,
        default=None,
        help="the database file (default: $AUTOTUNE_DB or ~/.local/share/autotune/tuning.sqlite)",
    )
    parser = subparsers.add_parser(
        "db",
        help="inspect, check, export, import and merge tuning databases",
        description="Inspect, check, export, import and merge tuning databases.",
    )
    sub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")

    p = sub.add_parser("stats", parents=[common], help="row counts, measurements by status, targets")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(run=run, action=_stats)

    p = sub.add_parser("check", parents=[common], help="integrity check and validation of every row")
    p.add_argument("--json", action="store_true", help="print the problems found as JSON")
    p.set_defaults(run=run, action=_check)

    p = sub.add_parser("export", parents=[common], help="write TVM results as a MetaSchedule JSON database")
    p.add_argument("--format", choices=FORMATS, default="metaschedule")
    p.add_argument("--target-id", type=int, default=None, help="only the records of this target (see stats)")
    p.add_argument("--force", action="store_true", help="overwrite existing files in OUT_DIR")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    p.add_argument("--json", action="store_true", help="print what was exported as JSON")
    p.set_defaults(run=run, action=_export)

    p = sub.add_parser("import", parents=[common], help="read a MetaSchedule JSON database")
    p.add_argument("--format", choices=FORMATS, default="metaschedule")
    p.add_argument(
        "in_dir",
        type=Path,
        metavar="IN_DIR",
        help="directory with database_workload.json and database_tuning_record.json",
    )
    p.add_argument("--model", help="record the log's workloads as this model (for `autotune best MODEL`)")
    p.add_argument("--json", action="store_true", help="print what was imported (and refused) as JSON")
    p.set_defaults(run=run, action=_import)

    p = sub.add_parser(
        "verify",
        parents=[common],
        help="re-measure here what other hosts measured (merged or imported), so it can be applied",
    )
    p.add_argument("--backend", action="append", choices=backends.names(), help="only these backends")
    p.add_argument("--target", default="llvm", help="the target to verify on (default: this CPU)")
    p.add_argument("--time-budget", type=float, default=600.0, help="seconds (default 600)")
    p.add_argument("--json", action="store_true", help="print each workload's outcome as JSON")
    p.set_defaults(run=run, action=_verify)

    p = sub.add_parser("merge", parents=[common], help="copy what another database has and this one lacks")
    p.add_argument("other", type=Path, metavar="OTHER")
    p.add_argument("--json", action="store_true", help="print the rows added per table as JSON")
    p.set_defaults(run=run, action=_merge)

    db_query.add_parser(sub, common, run)
    return parser


def run(args: argparse.Namespace) -> int:
    path = Path(args.db).expanduser() if args.db else default_path()
    try:
        return int(args.action(args, path) or 0)
    except sqlite3.Error as exc:  # a corrupt file found after opening it
        raise DatabaseError(f"{path}: unusable database ({exc})") from exc
    except BrokenPipeError:
        raise  # not the user's mistake: `autotune` stops quietly
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise UserError(f"{where}{exc.strerror or exc}") from exc


def _stats(args: argparse.Namespace, path: Path) -> int:
    with open_db(path, readonly=True) as db:
        info = _collect_stats(db)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    t = info["tables"]
    print(f"database: {info['path']} (schema version {info['schema_version']})")
    print(
        f"workloads: {t['workloads']}  models: {t['models']}  configs: {t['configs']}  "
        f"jobs: {t['jobs']}  tuned: {t['tuned']}  model measurements: {t['model_measurements']}"
    )
    by_status = ", ".join(f"{s} {n}" for s, n in info["measurements"].items())
    print(f"measurements: {t['measurements']} ({by_status})")
    if info["jobs"]:
        print("jobs: " + ", ".join(f"{s} {n}" for s, n in sorted(info["jobs"].items())))
    print(f"targets: {t['targets']}")
    for tg in info["targets"]:
        print(
            f"  [{tg['id']}] {tg['compiler']} {tg['compiler_version']}  {tg['kind']}  "
            f"{tg['device_model']}  measurements: {tg['measurements']}"
        )
    return 0


def _collect_stats(db: SQLiteDatabase) -> dict[str, Any]:
    counts = db.stats()
    tables = {k: v for k, v in counts.items() if not k.startswith("measurements_")}
    per_target = db.measurements_per_target()
    targets = [
        {
            "id": tid,
            "kind": t.kind,
            "device_model": t.device_model,
            "compiler": t.compiler,
            "compiler_version": t.compiler_version,
            "measurements": int(per_target.get(tid, 0)),
        }
        for tid, t in db.targets()
    ]
    jobs: dict[str, int] = {}
    for j in db.jobs():
        jobs[j["status"]] = jobs.get(j["status"], 0) + 1
    return {
        "path": str(db.path),
        "schema_version": db.schema_version,
        "jobs": jobs,
        "tables": tables,
        "measurements": {s: counts[f"measurements_{s}"] for s in STATUSES},
        "targets": targets,
    }


def _check(args: argparse.Namespace, path: Path) -> int:
    with open_db(path, readonly=True) as db:
        problems = db.check()
    if args.json:
        print(json.dumps({"path": str(path), "ok": not problems, "problems": problems}, indent=2))
    else:
        for p in problems:
            print(p)
    if problems:
        print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    if not args.json:
        print(f"{path}: ok")
    return 0


def _export(args: argparse.Namespace, path: Path) -> int:
    with open_db(path, readonly=True) as db:
        from autotune.backends.tvm import msjson

        n_workloads, n_records = msjson.export_ms(
            db, args.out_dir, target_id=args.target_id, overwrite=args.force
        )
    if args.json:
        out = {
            "path": str(path),
            "out_dir": str(args.out_dir),
            "workloads": n_workloads,
            "records": n_records,
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"exported {n_workloads} workloads and {n_records} records to {args.out_dir}")
    return 0


def _import(args: argparse.Namespace, path: Path) -> int:
    if path.exists():  # refuse a bad database before the slow read, without writing to it
        open_db(path, readonly=True).close()
    from autotune.backends.tvm import msjson

    log = msjson.read_ms(args.in_dir)  # everything validated before the database is opened
    for line in log.refused:
        print(f"autotune: refused {line}", file=sys.stderr)
    with open_db(path) as db:
        counts = msjson.write_ms(db, log, model=args.model)
    if args.json:
        out = {"path": str(path), "in_dir": str(args.in_dir), **counts, "refused": list(log.refused)}
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"imported {counts['records']} records ({counts['ok']} ok, {counts['run_error']} failed; "
        f"{counts['duplicates']} already present) of {counts['workloads']} workloads "
        f"({counts['new_workloads']} new) on {counts['targets']} targets into {path}"
        + (f"; refused {len(log.refused)} record(s) (see above)" if log.refused else "")
    )
    return 0


def _verify(args: argparse.Namespace, path: Path) -> int:
    from autotune.tuning.verify import verify

    if args.time_budget <= 0:
        raise UserError("--time-budget must be positive")
    if not path.exists():
        raise UserError(f"{path}: no such database")
    counts: dict[str, int] = {}
    results: list[dict[str, str]] = []
    with open_db(path) as db:
        for v in verify(db, args.backend or backends.names(), args.target, args.time_budget):
            counts[v.outcome] = counts.get(v.outcome, 0) + 1
            results.append(
                {"backend": v.backend, "workload": v.workload, "outcome": v.outcome, "detail": v.detail}
            )
            if not args.json:
                print(f"{v.backend} {v.workload}: {v.outcome} ({v.detail})")
    if args.json:
        print(json.dumps({"path": str(path), "results": results, "counts": counts}, indent=2))
        return 0
    summary = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "nothing to verify"
    print(f"{path}: {summary}")
    return 0


def _merge(args: argparse.Namespace, path: Path) -> int:
    other_path = Path(args.other).expanduser()
    if path.exists() and other_path.exists() and path.resolve() == other_path.resolve():
        raise UserError(f"{path}: cannot merge a database into itself")
    with open_db(other_path, readonly=True) as other, open_db(path) as db:
        added = db.merge_from(other)
    if args.json:
        print(json.dumps({"path": str(path), "other": str(other_path), "added": added}, indent=2))
        return 0
    parts = ", ".join(f"{table} {n}" for table, n in added.items() if n)
    print(f"merged {other_path} into {path}: added {parts or 'nothing'}")
    return 0
