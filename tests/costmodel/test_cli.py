"""`autotune costmodel train|eval` on a real database of XLA measurements, and the trained
model pruning a real XLA search."""

from __future__ import annotations

import json
import re

import pytest

from autotune.costmodel import base
from autotune.costmodel.features.base import for_backend
from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(900)

OPS = ["op-dense-8x512x256", "op-softmax-32x1024", "op-layernorm-16x512"]


@pytest.fixture(scope="module")
def data_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("cm")
    job = d / "collect.toml"
    job.write_text(
        "[job]\ncost_model = 'none'\ntime_budget_s = 600\n"
        + "".join(f"[[models]]\nname = '{op}'\nbackend = 'xla'\ntrials = 8\n" for op in OPS)
    )
    r = run_cli("tune", str(job), "--db", str(d / "data.sqlite"), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    return d / "data.sqlite"


def test_eval_compares_gnn_xgboost_random_with_plots(data_db, tmp_path):
    r = run_cli(
        "costmodel",
        "eval",
        "--db",
        str(data_db),
        "--backend",
        "xla",
        "--epochs",
        "5",
        "--test-fraction",
        "0.34",
        "--plots",
        str(tmp_path / "plots"),
        "--json",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert [row["model"] for row in out["held_out"]] == ["gnn", "xgboost", "random"]
    for row in out["held_out"]:
        assert -1.0 <= row["kendall_tau"] <= 1.0 and 0 < row["top1"] <= 1.0 and 0 < row["top5"] <= 1.0
        assert row["workloads"] == 1 and row["predict_per_s"] > 0
    for name in ("training_curve.png", "ranking.png"):
        png = tmp_path / "plots" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_saves_a_checkpoint_that_prunes_a_search(data_db, tmp_path):
    ckpt = tmp_path / "xla.pt"
    r = run_cli(
        "costmodel",
        "train",
        "--db",
        str(data_db),
        "--backend",
        "xla",
        "--epochs",
        "5",
        "--test-fraction",
        "0.34",
        "--all-data",
        "--out",
        str(ckpt),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "gnn" in r.stdout and ckpt.exists()
    model = base.load(ckpt, for_backend("xla").signature())
    assert model.name == "gnn" and model.history
    job = tmp_path / "prune.toml"
    job.write_text(
        f"[job]\ncost_model = '{ckpt}'\n[[models]]\nname = 'op-softmax-8x4096'\nbackend = 'xla'\ntrials = 8\n"
    )
    r = run_cli("tune", str(job), "--db", str(tmp_path / "t.sqlite"), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    m = re.search(r"cost model ranked (\d+) proposals", r.stdout)
    assert m and int(m.group(1)) >= 4, r.stdout  # after warm-up, every trial was picked from 4


def test_user_errors_are_one_line(data_db, tmp_path):
    from autotune.db import open_db

    empty = tmp_path / "empty.sqlite"
    open_db(empty).close()
    cases = [
        (["train", "--db", str(empty), "--backend", "xla", "--out", str(tmp_path / "m.pt")], "not enough"),
        (["eval", "--db", str(data_db), "--backend", "xla", "--holdout-kind", "fft"], "no workload of kind"),
        (
            ["eval", "--db", str(data_db), "--backend", "xla", "--checkpoint", str(tmp_path / "no.pt")],
            "no such",
        ),
        (["eval", "--db", str(data_db), "--backend", "xla", "--test-fraction", "1.5"], "between 0 and 1"),
    ]
    for args, needle in cases:
        r = run_cli("costmodel", *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr and needle in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[job]\ncost_model = 'missing.pt'\n[[models]]\nname = 'mlp'\nbackend = 'xla'\n")
    r = run_cli("tune", str(bad), "--db", str(tmp_path / "x.sqlite"))
    assert r.returncode == 2 and "no such checkpoint" in r.stderr


def test_eval_by_model_holds_out_each_model_whole_with_paired_intervals(data_db):
    r = run_cli(
        "costmodel", "eval", "--db", str(data_db), "--backend", "xla", "--by-model", "--seeds", "0,1",
        "--epochs", "3", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert {row["held_out"] for row in out["rows"]} == set(OPS)
    assert len(out["rows"]) == len(OPS) * 2 * 4  # models x seeds x (gnn, ensemble, xgboost, random)
    for row in out["rows"]:
        assert -1.0 <= row["kendall_tau"] <= 1.0 and 0 < row["top1"] <= row["topk"] <= 1.0
    summary = {m["model"]: m for m in out["models"]}
    assert set(summary) == {"gnn", "ensemble", "xgboost", "random"}
    assert summary["gnn"]["held_out_models"] == len(OPS)
    for kind in ("gnn", "ensemble", "random"):
        mean, low, high = summary[kind]["kendall_tau_vs_xgboost"]
        assert low <= mean <= high
    assert "kendall_tau_vs_xgboost" not in summary["xgboost"]
    bad = run_cli("costmodel", "eval", "--db", str(data_db), "--backend", "xla", "--by-model", "--seeds", "x")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--seeds" in bad.stderr
    one = run_cli(
        "costmodel", "eval", "--db", str(data_db), "--backend", "xla", "--by-model", "--seeds", "0",
        "--epochs", "2", "--hold-out", OPS[0], "--json",
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    assert {row["held_out"] for row in json.loads(one.stdout)["rows"]} == {OPS[0]}
    bad = run_cli(
        "costmodel", "eval", "--db", str(data_db), "--backend", "xla", "--by-model", "--hold-out", "resnet99"
    )
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "resnet99" in bad.stderr


def test_a_workload_without_a_default_still_ranks_against_its_fastest(data_db, tmp_path):
    """A ranking needs no default (an imported MetaSchedule log has none): each workload's
    candidates are relative to its fastest instead, and every workload knows its models."""
    import shutil
    import sqlite3

    from autotune.costmodel.dataset import load_dataset
    from autotune.db import open_db

    copy = tmp_path / "nodefault.sqlite"
    shutil.copy(data_db, copy)
    conn = sqlite3.connect(copy)
    with conn:
        conn.execute("DELETE FROM measurements WHERE source='default'")
    conn.close()
    with open_db(data_db, readonly=True) as db:
        before = load_dataset(db, "xla")
    with open_db(copy, readonly=True) as db:
        after = load_dataset(db, "xla")
    assert len(set(after.groups)) == len(set(before.groups)) == len(OPS)
    for g in set(after.groups):
        rel = [r for r, grp in zip(after.relative, after.groups) if grp == g]
        assert min(rel) == 1.0
        assert len(after.models[g]) == 1  # the op model it is the workload of
    assert {m for names in after.models.values() for m in names} == set(OPS)
