"""Train and evaluate cost models side by side on one workload split.

Example::

    train, test = load_dataset(db, "tvm").split(0.25, seed=0)
    model = train_model("gnn", train, featurizer.signature())
    rows = compare(train, test, featurizer.signature())   # gnn, xgboost, random
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autotune.costmodel import base, metrics
from autotune.costmodel.dataset import Dataset


def train_model(kind: str, data: Dataset, signature: dict[str, Any], seed: int = 0, **hp: Any) -> Any:
    """A model of `kind` fitted on a dataset."""
    model = base.create(kind, signature=signature, seed=seed, **hp)
    model.fit(data.graphs, data.relative, data.groups)
    return model


def score(model: Any, data: Dataset) -> dict[str, float]:
    """Ranking quality of a model on a dataset, and its prediction throughput."""
    t0 = time.perf_counter()
    scores = model.predict(data.graphs)
    secs = time.perf_counter() - t0
    out = metrics.evaluate(scores, data.latency, data.groups)
    out["candidates"] = len(data)
    out["predict_per_s"] = len(data) / secs if secs > 0 else float("inf")
    return out


def compare(
    train: Dataset,
    test: Dataset,
    signature: dict[str, Any],
    kinds: Sequence[str] = ("gnn", "xgboost", "random"),
    seed: int = 0,
    models: dict[str, Any] | None = None,
    gnn_hp: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train each kind on `train` (or take it from `models`), evaluate on `test`."""
    rows, trained = [], dict(models or {})
    for kind in kinds:
        t0 = time.perf_counter()
        if kind not in trained:
            hp = (gnn_hp or {}) if kind in ("gnn", "ensemble") else {}
            trained[kind] = train_model(kind, train, signature, seed, **hp)
        row = {"model": kind, "train_s": time.perf_counter() - t0, **score(trained[kind], test)}
        rows.append(row)
    return rows, trained


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'model':<10}{'kendall tau':>12}{'top-1':>8}{'top-5':>8}{'predict/s':>12}{'train s':>9}"]
    for r in rows:
        lines.append(
            f"{r['model']:<10}{r['kendall_tau']:>12.3f}{r['top1']:>8.3f}{r['top5']:>8.3f}"
            f"{r['predict_per_s']:>12.0f}{r['train_s']:>9.1f}"
        )
    return "\n".join(lines)


def plots(out_dir: str | Path, trained: dict[str, Any], test: Dataset, title: str = "") -> list[Path]:
    """Training curve of the GNN and predicted-vs-true ranking plots (PNG), one per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    gnn = trained.get("gnn")
    if gnn is not None and gnn.history:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot([h["epoch"] for h in gnn.history], [h["loss"] for h in gnn.history], marker=".")
        ax.set_xlabel("epoch")
        ax.set_ylabel("pairwise ranking loss (train)")
        ax.set_title(f"GNN training curve {title}".strip())
        fig.tight_layout()
        written.append(out / "training_curve.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    fig, axes = plt.subplots(1, len(trained), figsize=(4.2 * len(trained), 3.6), squeeze=False)
    for ax, (kind, model) in zip(axes[0], trained.items()):
        s = model.predict(test.graphs)
        rel = np.asarray(test.relative)
        for grp in sorted(set(test.groups)):
            idx = [i for i, g in enumerate(test.groups) if g == grp]
            # Within a workload: rank of the prediction vs rank of the truth (0 = fastest).
            pr = np.argsort(np.argsort(-s[idx])) / max(1, len(idx) - 1)
            tr = np.argsort(np.argsort(rel[idx])) / max(1, len(idx) - 1)
            ax.scatter(tr, pr, s=6, alpha=0.5)
        r = metrics.evaluate(s, test.latency, test.groups)
        ax.set_title(f"{kind}: tau {r['kendall_tau']:.2f}, top-5 {r['top5']:.2f}")
        ax.set_xlabel("true rank in workload (0 = fastest)")
        ax.set_ylabel("predicted rank")
    fig.tight_layout()
    written.append(out / "ranking.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written
