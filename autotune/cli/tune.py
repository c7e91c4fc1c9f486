"""`autotune tune`: run a tuning job from a job file, or tune one model from the command line.

autotune tune examples/nightly.toml
autotune tune --model convnet --trials 64
autotune tune --model convnet --trials 64 --json   # the job report as JSON on stdout
autotune tune --model mlp --tracker 10.0.0.5:9190 --device-key rasp4   # measured on that device
autotune tune --backend xla --model mlp --ray 10.0.0.5:6379 --device-key gpu   # on the cluster's gpu nodes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout

from autotune import backends
from autotune.errors import UserError
from autotune.tuning.jobfile import DEFAULT_BACKEND


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="tune models into the database (a nightly job or one model)")
    p.add_argument("jobfile", nargs="?", help="job file (TOML) listing models, target and budgets")
    p.add_argument(
        "--model", action="append", help="model to tune: a zoo name or module:function (repeatable)"
    )
    p.add_argument("--trials", type=int, help="measured trials per model (overrides the job file)")
    p.add_argument(
        "--target", help="'llvm' (this CPU) or a JSON dict of TVM target attributes; XLA: 'cpu' or 'gpu'"
    )
    p.add_argument(
        "--backend",
        default=None,
        choices=backends.names(),
        help=f"compiler backend of --model (default {DEFAULT_BACKEND}); with a job file, only its "
        "models of this backend",
    )
    p.add_argument("--db", help="database file (default: the job file's, else the embedded default)")
    p.add_argument("--time-budget", type=float, help="wall-clock budget of the whole job, seconds")
    p.add_argument(
        "--graph-trials",
        type=int,
        help="graph-level configs per model for the joint search (overrides the job file; 0: none)",
    )
    p.add_argument(
        "--levels",
        help="levels of decisions searched: graph, subgraph, or graph,subgraph (the default: both, "
        "jointly; overrides the job file)",
    )
    p.add_argument(
        "--report",
        metavar="DIR",
        help="write the job's report (HTML, Markdown, PNG plots) into DIR at its end",
    )
    p.add_argument(
        "--tracker",
        metavar="HOST:PORT",
        help="TVM RPC tracker: build here, measure on its devices of --device-key (overrides the job file)",
    )
    p.add_argument(
        "--device-key",
        metavar="KEY",
        help="measure on remote devices of KEY: TVM, those that joined --tracker with it; XLA, the "
        "nodes of the --ray cluster that offer the Ray resource KEY",
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the job's models as Ray tasks: auto (the running cluster), local (a Ray instance "
        "started here) or a cluster address; each task tunes into its own SQLite file, merged here",
    )
    p.add_argument("--force", action="store_true", help="tune again what is already tuned")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--json", action="store_true", help="print the job report as JSON (progress bars stay on stderr)"
    )
    p.set_defaults(run=run)


def build_spec(args: argparse.Namespace):  # -> JobSpec
    from autotune.tuning.jobfile import check_remote, load_job, parse_job, parse_levels

    if args.trials is not None and args.trials <= 0:
        raise UserError("--trials must be a positive integer")
    if args.time_budget is not None and args.time_budget <= 0:
        raise UserError("--time-budget must be positive")
    if args.graph_trials is not None and args.graph_trials < 0:
        raise UserError("--graph-trials must be 0 or more")
    if args.jobfile:
        spec = load_job(args.jobfile)
        if args.model:
            wanted = set(args.model)
            missing = wanted - {m.name for m in spec.models}
            if missing:
                raise UserError(f"{args.jobfile}: no model(s) named {', '.join(sorted(missing))} in the job")
            spec.models = [m for m in spec.models if m.name in wanted]
        if args.backend:  # with a job file: only its models of this backend
            spec.models = [m for m in spec.models if m.backend == args.backend]
            if not spec.models:
                raise UserError(f"{args.jobfile}: no {args.backend} model in the job")
    elif args.model:
        job: dict = {}
        if args.backend:
            job["backend"] = args.backend
        spec = parse_job({"job": job, "models": [{"name": m} for m in args.model]}, "command line")
    else:
        raise UserError("give a job file or --model NAME")
    if args.trials is not None:
        for m in spec.models:
            m.trials = args.trials
    if args.target is not None:
        spec.target = args.target
    if args.time_budget is not None:
        spec.time_budget_s = args.time_budget
    if args.graph_trials is not None:
        spec.graph_trials = args.graph_trials
    if args.levels is not None:
        spec.levels = parse_levels(args.levels, "--levels")
    if getattr(args, "report", None) is not None:
        spec.report = args.report
    tracker, key, ray = (getattr(args, n, None) for n in ("tracker", "device_key", "ray"))
    if tracker is not None or key is not None or ray is not None:
        spec.tracker = tracker if tracker is not None else spec.tracker
        spec.device_key = key if key is not None else spec.device_key
        spec.ray = ray if ray is not None else spec.ray
        check_remote(spec, "", ("--tracker", "--device-key", "--ray"))
    return spec


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Whatever the job prints (Python or a compiler's native code) goes to stderr, so that
    stdout holds only the JSON report."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run(args: argparse.Namespace) -> int:
    from autotune.tuning.fanout import run_fanout
    from autotune.tuning.job import run_job

    spec = build_spec(args)
    tune = run_fanout if spec.ray else run_job  # with a Ray cluster: the same job, its models as Ray tasks

    if args.json:
        with _stdout_to_stderr():
            report = tune(spec, db_path=args.db, force=args.force, progress=not args.no_progress)
        print(json.dumps(report.as_dict(), indent=2))
    else:
        report = tune(spec, db_path=args.db, force=args.force, progress=not args.no_progress)
        print(report.table())
    if not report.ok:
        where = 'each model\'s "error"' if args.json else "above"
        print(f"autotune: some models failed (see {where})", file=sys.stderr)
        return 1
    return 0
