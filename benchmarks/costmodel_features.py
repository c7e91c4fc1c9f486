"""Where a tree model's ranking comes from: XGBoost on all of `flat`, on the config vector `g`
alone, and on `flat` without `g`, same random workload splits as costmodel.py (1).

If `g` alone ranks about as well as everything, the candidates' order is mostly a matter of
global options whose effect hardly depends on the workload's graph: the case where a graph
model has little to add (issue 4, XLA).

.venv/bin/python benchmarks/costmodel_features.py --db costmodel-data.sqlite   # ~1 min
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

NAME = "costmodel_features"

METHOD = """\
Method. Data: the data-collection database {db}, read-only, featurized once per backend
(load_dataset). For each of {seeds} random workload splits (Dataset.split(0.25, seed), the
splits of costmodel.py (1)), XGBoost (autotune.costmodel.xgb: 200 rounds, rank:pairwise, 1
thread, seed = split seed) is trained on the training workloads with its `flat` input replaced
by: "all" = the featurizer's flat vector as shipped; "g only" = the graph-level (config and
cost-analysis) vector alone; "all but g" = flat without its trailing g part. Scored on the
held-out workloads: Kendall's tau-b per workload, averaged (autotune.costmodel.train.score).
Deterministic given the data: no timing is involved.
"""

VARIANTS = ("all", "g only", "all but g")


def with_flat(data: Any, variant: str) -> Any:
    """A copy of the dataset whose graphs' `flat` is the variant's input."""
    out = copy.copy(data)
    out.graphs = []
    for g in data.graphs:
        g2 = copy.copy(g)
        width = g.g.shape[1]
        if variant == "g only":
            g2.flat = g.g
        elif variant == "all but g":
            g2.flat = g.flat[:, : g.flat.shape[1] - width]
        out.graphs.append(g2)
    return out


def run(db_path: str, backend: str, seeds: list[int]) -> dict[str, Any]:
    from autotune.costmodel.dataset import load_dataset
    from autotune.costmodel.features.base import for_backend
    from autotune.costmodel.train import score, train_model
    from autotune.db import open_db

    feat = for_backend(backend)
    with open_db(db_path, readonly=True) as db:
        data = load_dataset(db, backend, feat)
    res: dict[str, Any] = {"workloads": len(data.names), "candidates": len(data), "tau": {}}
    for variant in VARIANTS:
        d = with_flat(data, variant)
        taus = []
        for seed in seeds:
            train, test = d.split(0.25, seed)
            model = train_model("xgboost", train, feat.signature(), seed)
            taus.append(score(model, test)["kendall_tau"])
        res["tau"][variant] = taus
    return res


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", default="costmodel-data.sqlite", help="data-collection database (read-only)")
    p.add_argument("--backend", default="tvm,xla")
    p.add_argument("--seeds", default="0,1,2,3,4")
    args = p.parse_args(argv)
    if not Path(args.db).is_file():
        print(
            f"no data-collection database at {args.db}: see benchmarks/costmodel.py --help", file=sys.stderr
        )
        return 2
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {b: run(args.db, b, seeds) for b in args.backend.split(",") if b}
    rows = [
        [b, f"{r['workloads']} / {r['candidates']}"]
        + [
            f"{statistics.fmean(r['tau'][v]):.3f} [{min(r['tau'][v]):.3f}, {max(r['tau'][v]):.3f}]"
            for v in VARIANTS
        ]
        for b, r in results.items()
    ]
    table = C.table(["backend", "workloads / candidates", *(f"XGBoost tau: {v}" for v in VARIANTS)], rows)
    text = "\n".join([C.wrap(METHOD.format(db=args.db, seeds=len(seeds))), "", table])
    print(text)
    out = C.write_result(NAME, METHOD, results, text, argv)
    print(f"\nwrote {os.path.relpath(out, C.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
