"""`autotune db query SQL`: one read-only statement's rows as a table, JSON or CSV (the
query itself runs in autotune/db/readonly.py).

Usage::

    autotune db query SQL [--table | --json | --csv] [-p NAME=VALUE] [--db PATH]   (docs/database.md)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from autotune.errors import UserError

_TABLE_CELL = 60  # --table shortens longer values (--json and --csv print them whole)
_TABLE_BATCH = 1000  # --table aligns this many rows at a time, so a large result streams


def add_parser(sub: Any, common: argparse.ArgumentParser, run: Any) -> None:
    """The `query` action of `autotune db` (`run`: the group's runner)."""
    p = sub.add_parser(
        "query",
        parents=[common],
        help="run one read-only SQL query (tables and views: docs/database.md)",
        description="Run one read-only SQL query on a tuning database and print its rows. The file "
        "is opened read-only and any statement that would write is refused. Views for the common "
        "questions: best_configs, model_best_configs, model_results, measurements_named, "
        "confirmations, latest_confirmations (docs/database.md).",
    )
    p.add_argument("sql", metavar="SQL", help="one SQL statement that returns rows")
    shape = p.add_mutually_exclusive_group()
    for flag, text in (
        ("table", "aligned columns for reading, long values shortened (default)"),
        ("json", 'a JSON list of objects, one per row (blobs as {"$base64": true, "encoded": ...})'),
        ("csv", "a header row, then the rows"),
    ):
        shape.add_argument(f"--{flag}", dest="format", action="store_const", const=flag, help=text)
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="bind :NAME in the SQL to VALUE (a string; repeatable)",
    )
    p.set_defaults(run=run, action=query, format="table")


def query(args: argparse.Namespace, path: Path) -> int:
    """The rows of one read-only statement (`autotune.db.readonly.query_rows`), written out."""

    from autotune.db.readonly import query_rows

    params: dict[str, str] = {}
    for item in args.param:
        name, eq, value = item.partition("=")
        name = name.strip().lstrip(":@$")
        if not eq or not name:
            raise UserError(f"--param {item!r}: expected NAME=VALUE (bound to :NAME in the query)")
        params[name] = value
    _WRITERS[args.format](query_rows(path, args.sql, params), sys.stdout)
    sys.stdout.flush()  # a reader gone (`| head`) is BrokenPipeError: the CLI stops quietly
    return 0


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):  # the convention of sqlite-utils and datasette
        import base64

        return {"$base64": True, "encoded": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _write_json(rows: Any, out: Any) -> None:
    start = "[\n"
    for row in rows:
        out.write(start + json.dumps(row, default=_json_value))
        start = ",\n"
    out.write("[]\n" if start == "[\n" else "\n]\n")


def _write_csv(rows: Any, out: Any) -> None:
    import base64
    import csv

    writer = csv.writer(out)
    for i, row in enumerate(rows):
        if i == 0:
            writer.writerow(row.keys())
        writer.writerow(
            [base64.b64encode(v).decode("ascii") if isinstance(v, bytes) else v for v in row.values()]
        )


def _table_cell(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        text = " ".join(value.split())
        return text if len(text) <= _TABLE_CELL else text[: _TABLE_CELL - 3] + "..."
    return value


def _write_table(rows: Any, out: Any) -> None:
    from tabulate import tabulate

    batch: list[dict[str, Any]] = []
    printed = False

    def flush() -> None:
        out.write(("\n" if printed else "") + tabulate(batch, headers="keys", disable_numparse=True) + "\n")

    for row in rows:
        batch.append({k: _table_cell(v) for k, v in row.items()})
        if len(batch) == _TABLE_BATCH:
            flush()
            batch, printed = [], True
    if batch:
        flush()
    elif not printed:
        out.write("(no rows)\n")


_WRITERS = {"table": _write_table, "json": _write_json, "csv": _write_csv}
