"""`autotune costmodel`: train the GNN cost model on a tuning database, and evaluate it
side by side with XGBoost and random on workloads it was not trained on.

autotune costmodel train --db tuning.sqlite --backend tvm --out tvm.pt
autotune costmodel eval --db tuning.sqlite --backend xla --plots report/
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from autotune import backends
from autotune.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("costmodel", help="train and evaluate the learned cost model")
    cmds = p.add_subparsers(dest="costmodel_command", required=True, metavar="COMMAND")
    for name, help_ in (
        ("train", "train a cost model on the database's measurements and save it"),
        ("eval", "GNN vs XGBoost vs random on held-out workloads: tau, top-1, top-5, throughput"),
    ):
        c = cmds.add_parser(name, help=help_)
        c.add_argument("--db", help="database file (default: the embedded default)")
        c.add_argument("--backend", choices=backends.names(), required=True, help="whose candidates")
        c.add_argument("--test-fraction", type=float, default=0.25, help="workloads held out (default 0.25)")
        c.add_argument("--holdout-kind", help="hold out every workload of one kind (e.g. conv2d) instead")
        c.add_argument("--seed", type=int, default=0)
        c.add_argument(
            "--epochs",
            type=int,
            default=None,
            help="GNN training epochs (default: the features', TVM 40, XLA 20)",
        )
        c.add_argument(
            "--loss",
            choices=["pairwise", "listwise"],
            default="pairwise",
            help="the GNN's training loss: RankNet pairs (default) or ListNet lists, per workload",
        )
        c.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "train":
            c.add_argument("--out", required=True, help="checkpoint file to write")
            c.add_argument("--model", default="gnn", choices=["gnn", "ensemble", "xgboost", "random"])
            c.add_argument(
                "--all-data", action="store_true", help="after evaluating, refit on every workload"
            )
        else:
            c.add_argument("--checkpoint", help="evaluate this GNN checkpoint instead of training one")
            c.add_argument("--plots", help="directory for the training-curve and ranking PNGs")
            c.add_argument(
                "--by-model",
                action="store_true",
                help="hold out each model whole in turn (its every workload), over --seeds; paired "
                "intervals against XGBoost",
            )
            c.add_argument("--seeds", default="0,1,2", help="with --by-model: seeds, comma-separated")
            c.add_argument(
                "--hold-out",
                default="",
                metavar="NAMES",
                help="with --by-model: hold out only these models, comma-separated (default: every model)",
            )
    p.set_defaults(run=run)


def _data(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    if not 0 < args.test_fraction < 1:
        raise UserError("--test-fraction must be between 0 and 1")
    feat, data = _load(args)
    try:
        train, test = data.split(args.test_fraction, args.seed, args.holdout_kind)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return feat, train, test


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    """The backend's featurizer and every usable workload of the database."""
    from autotune.costmodel.dataset import load_dataset
    from autotune.costmodel.features.base import for_backend
    from autotune.db import default_path, open_db

    feat = for_backend(args.backend)
    with open_db(args.db or default_path(), readonly=True) as db:
        data = load_dataset(db, args.backend, feat)
    if len(set(data.groups)) < 2:
        raise UserError(
            f"not enough {args.backend} measurements to train on: {len(set(data.groups))} workload(s) "
            "with 4+ measured candidates; run a data-collection job first (examples/costmodel_data.toml)"
        )
    return feat, data


def _by_model(args: argparse.Namespace) -> int:
    """`eval --by-model`: leave one model out (autotune/costmodel/holdout.py)."""
    from autotune.costmodel import base
    from autotune.costmodel.holdout import held_out_models, leave_one_model_out

    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise UserError(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    feat, data = _load(args)
    names = held_out_models(data)
    if len(names) < 2:
        raise UserError(
            f"--by-model needs measured workloads of 2+ models; this database has {len(names)} "
            f"({', '.join(names) or 'none'})"
        )
    only = [x.strip() for x in args.hold_out.split(",") if x.strip()]
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise UserError(
            f"--hold-out: no measured {args.backend} workloads of {', '.join(unknown)}; "
            f"models here: {', '.join(names)}"
        )
    fixed = {}
    if args.checkpoint:
        try:
            fixed["gnn"] = base.load(args.checkpoint, feat.signature())
        except base.CostModelError as exc:
            raise UserError(str(exc)) from None
    gnn_hp = _gnn_hp(args)
    result = leave_one_model_out(
        data, feat.signature(), seeds=seeds, fixed=fixed, gnn_hp=gnn_hp, only=only or None
    )
    head = (
        f"{args.backend}: {len(only or names)} of {len(names)} models held out in turn "
        f"({len(set(data.groups))} workloads, "
        f"{len(data)} candidates), seeds {','.join(map(str, seeds))}"
    )
    if args.json:
        print(json.dumps({"summary": head, "rows": result.rows, "models": result.summary()}, indent=2))
        return 0
    print(head)
    print(result.table())
    print(
        "per held-out model, seeds averaged: tau is Kendall's tau, top-1 and top-k (k = 5% of a workload's "
        "candidates, at least 1) the best true latency over that of the model's top pick(s)"
    )
    return 0


def _gnn_hp(args: argparse.Namespace) -> dict[str, Any]:
    """The GNN's hyperparameters the command line sets (the rest: its defaults)."""
    hp: dict[str, Any] = {"loss": args.loss} if args.loss != "pairwise" else {}
    return hp | ({} if args.epochs is None else {"epochs": args.epochs})


def run(args: argparse.Namespace) -> int:
    from autotune.costmodel import base
    from autotune.costmodel.train import compare, plots, table, train_model

    feat, train, test = _data(args)
    sig = feat.signature()
    gnn_hp = _gnn_hp(args)
    head = (
        f"{args.backend}: {len(set(train.groups))} training workloads ({len(train)} candidates), "
        f"{len(set(test.groups))} held-out workloads ({len(test)} candidates)"
        + (f", held-out kind {args.holdout_kind}" if args.holdout_kind else "")
    )
    if args.costmodel_command == "train":
        hp = gnn_hp if args.model in ("gnn", "ensemble") else {}
        rows, trained = compare(train, test, sig, kinds=[args.model], seed=args.seed, gnn_hp=gnn_hp)
        model = trained[args.model]
        if args.all_data:
            model = train_model(args.model, train.merge(test), sig, args.seed, **hp)
        model.save(args.out)
        if args.json:
            print(json.dumps({"summary": head, "held_out": rows, "checkpoint": args.out}, indent=2))
        else:
            print(head)
            print(table(rows))
            print(
                f"saved {args.model} to {args.out}" + (" (refit on all workloads)" if args.all_data else "")
            )
        return 0
    if args.by_model:
        return _by_model(args)
    models = {}
    if args.checkpoint:
        try:
            models["gnn"] = base.load(args.checkpoint, sig)
        except base.CostModelError as exc:
            raise UserError(str(exc)) from None
    rows, trained = compare(train, test, sig, models=models, seed=args.seed, gnn_hp=gnn_hp)
    written = plots(args.plots, trained, test, args.backend) if args.plots else []
    if args.json:
        print(json.dumps({"summary": head, "held_out": rows, "plots": [str(p) for p in written]}, indent=2))
        return 0
    print(head)
    print(table(rows))
    print(
        "tau: Kendall's tau per held-out workload, averaged; top-k: best true latency over the true latency"
    )
    print("of the best among the model's k highest-ranked candidates (1.0 = found the best)")
    for p in written:
        print(f"wrote {p}")
    return 0
