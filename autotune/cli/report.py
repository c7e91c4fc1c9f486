"""`autotune report`: a job's report as an HTML page and Markdown with PNG plots.

autotune report --out report/                 # the latest job
autotune report --job 12 --out report/
autotune report --model bert-tiny --out report/
"""

from __future__ import annotations

import argparse
import json
import time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write a job's report: HTML (self-contained) and Markdown with PNG plots"
    )
    p.add_argument("--out", required=True, help="folder to write report.html, report.md and the plots into")
    p.add_argument(
        "--job", type=int, help="job id (default: the latest job, or the latest that tuned --model)"
    )
    p.add_argument("--model", action="append", help="only this model (repeatable)")
    p.add_argument("--db", help="database file (default: the embedded default)")
    p.add_argument("--json", action="store_true", help="print the written paths as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from autotune.db import default_path, open_db
    from autotune.report import write_report

    t0 = time.perf_counter()
    with open_db(args.db or default_path(), readonly=True) as db:
        paths = write_report(db, args.out, job_id=args.job, models=args.model)
    took = time.perf_counter() - t0
    if args.json:
        print(
            json.dumps(
                {
                    "html": str(paths.html),
                    "markdown": str(paths.markdown),
                    "plots": [str(p) for p in paths.plots],
                    "seconds": took,
                },
                indent=2,
            )
        )
    else:
        print(f"wrote {paths.html} and {paths.markdown} ({len(paths.plots)} plots) in {took:.1f} s")
    return 0
