"""The views of schema version 4 (db/migrations/0004_views.sql) say what the Python API says.

A real database is filled through the API (a won confirmation, a lost one, a later loss that
demotes a best, a winner found to give wrong results, two targets, a merge from elsewhere),
then every view's rows are compared with `best`, `confirmation`, `outcomes`, `model`,
`latest_model_measurement` and `job_models`. The views are what `autotune db query`,
sqlite-utils and datasette users read (docs/database.md).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from autotune.db import TargetInfo, open_db

pytestmark = pytest.mark.timeout(300)

T1 = TargetInfo("llvm", "cpu one", ("avx2",), "tvm", "0.27.0")
T2 = TargetInfo("llvm", "cpu two", ("avx512f",), "tvm", "0.27.0")
NAMES = ("won", "lost", "demoted", "wrong", "two", "rewon", "never")
#: (workload, target) pairs whose best is a tuned config; every other pair keeps the default.
BESTS = {("won", 1), ("two", 1), ("wrong", 2), ("rewon", 1)}


def trace(n: int) -> dict:
    return {"trace": [[["SamplePerfectTile", ["l0"], [4, 64], ["v1"]]], [[0, [n, 1, 1, 32 // n]]]]}


@pytest.fixture
def filled(tmp_path: Path):
    """(open database, {name: workload id}, {1: target id, 2: target id}, job id)."""
    db = open_db(tmp_path / "tuning.sqlite")
    t = {1: db.target_id(T1), 2: db.target_id(T2)}
    job = db.start_job({"models": ["mlp", "other"]})
    w = {name: db.add_workload(f"tvm:sh1:{name}", "tvm", f"fused_{name}", "{}") for name in NAMES}
    for wid in w.values():
        db.record(wid, "default", {}, t[1], "ok", [2e-3, 2.1e-3], source="default", job_id=job)
        db.record(wid, "trace", trace(1), t[1], "ok", [1e-3, 1.1e-3], job_id=job)
        db.record(wid, "trace", trace(2), t[1], "build_error", error="boom", job_id=job)
    fast, slow = [1e-3] * 3, [2e-3] * 3
    db.record_pair(w["won"], "trace", trace(1), t[1], slow, fast, job_id=job)
    db.record_pair(w["lost"], "trace", trace(1), t[1], fast, [1.5e-3] * 3)
    db.record_pair(w["demoted"], "trace", trace(1), t[1], slow, fast)
    db.record_pair(w["demoted"], "trace", trace(1), t[1], fast, [1.1e-3] * 3)  # a later loss demotes it
    db.record_pair(w["wrong"], "trace", trace(1), t[1], slow, fast)
    db.record(w["wrong"], "trace", trace(1), t[1], "wrong_result", error="max abs diff 1")  # on t1 only
    db.record_pair(w["wrong"], "trace", trace(1), t[2], slow, fast)
    db.record_pair(w["two"], "trace", trace(1), t[1], slow, [1.2e-3] * 3)
    db.record_pair(w["two"], "trace", trace(3), t[2], fast, [1.3e-3] * 3)  # lost on the other target
    db.record_pair(w["rewon"], "trace", trace(1), t[1], fast, [1.2e-3] * 3)
    db.record_pair(w["rewon"], "trace", trace(4), t[1], slow, [1.5e-3] * 3)  # a later win makes it
    db.record_pair(w["rewon"], "trace", trace(1), t[1], [1e-3], [1.01e-3])  # within the margin: no win...
    db.record_pair(w["rewon"], "trace", trace(4), t[1], slow, [1.6e-3] * 3)  # ... and the latest wins
    mlp = db.set_model(
        "mlp", "tvm", "zoo:mlp", [(w["won"], 2), (w["lost"], 1), (w["two"], 1), (w["wrong"], 3)]
    )
    db.set_model("other", "tvm", "zoo:other", [(w["demoted"], 1), (w["rewon"], 4), (w["never"], 1)])
    db.add_model_measurement(mlp, t[1], [1e-3] * 3, [2e-3] * 3, 2.0, job_id=job)
    db.add_model_measurement(mlp, t[1], [1.1e-3] * 3, [2e-3] * 3, 1.8, job_id=job)
    db.add_job_model(job, "mlp", "tvm", t[1], "tuned", 12, 1, 3.5, {"status": "tuned", "trials": 12})
    db.add_job_model(job, "broken", "tvm", None, "failed", 0, 0, None, {"status": "failed"})
    db.finish_job(job, "done")
    try:
        yield db, w, t, job
    finally:
        db.close()


def view(db, sql: str, *args) -> list[dict]:
    return [dict(r) for r in db.conn.execute(sql, args).fetchall()]


def test_every_view_exists_and_reads(filled):
    db, *_ = filled
    names = {r["name"] for r in view(db, "SELECT name FROM sqlite_master WHERE type='view'")}
    assert names == {
        "measurements_named",
        "confirmations",
        "latest_confirmations",
        "best_configs",
        "model_best_configs",
        "model_results",
    }
    for name in names:
        assert view(db, f"SELECT * FROM {name}"), name


def test_best_configs_are_what_best_says(filled):
    db, w, t, job = filled
    found = set()
    for name, wid in w.items():
        for n, tid in t.items():
            best = db.best(wid, tid)
            rows = view(db, "SELECT * FROM best_configs WHERE workload_id=? AND target_id=?", wid, tid)
            assert (best is not None) == ((name, n) in BESTS), (name, n)
            if best is None:
                assert rows == [], (name, n)
                continue
            found.add((name, n))
            (row,) = rows
            assert row["config_id"] == best.config_id and row["config_kind"] == best.kind
            assert json.loads(row["config"]) == best.config
            assert row["median_s"] == pytest.approx(best.median)
            assert row["speedup"] == pytest.approx(best.speedup)
            assert row["workload"] == f"fused_{name}" and row["fingerprint"] == f"tvm:sh1:{name}"
            assert row["host"] == db.host and row["compiler"] == "tvm"
            assert row["device_model"] == db.target_info(tid).device_model
    assert found == BESTS
    won = view(db, "SELECT job_id, default_s FROM best_configs WHERE workload='fused_won'")
    assert won == [{"job_id": job, "default_s": pytest.approx(2e-3)}]
    # The later win of another config is the best, not the first config's earlier run.
    rewon = view(db, "SELECT config FROM best_configs WHERE workload='fused_rewon'")
    assert [json.loads(r["config"]) for r in rewon] == [trace(4)]


def test_latest_confirmations_are_what_confirmation_says(filled):
    db, w, t, _ = filled
    for name, wid in w.items():
        for n, tid in t.items():
            c = db.confirmation(wid, tid)
            rows = view(
                db, "SELECT * FROM latest_confirmations WHERE workload_id=? AND target_id=?", wid, tid
            )
            if c is None:
                assert rows == [] and (name, n) not in BESTS, (name, n)
                continue
            (row,) = rows
            assert row["config_id"] == c.config_id and json.loads(row["config"]) == c.config
            assert bool(row["is_best"]) == c.is_best == ((name, n) in BESTS), (name, n)
            assert bool(row["won"]) == c.won(), (name, n)
            assert row["speedup"] == pytest.approx(c.speedup)
            assert row["median_s"] == pytest.approx(c.median)
            assert row["default_s"] == pytest.approx(c.default_median)
            assert json.loads(row["samples"]) == c.samples
            assert json.loads(row["default_samples"]) == c.default_samples
    # A winner found to give wrong results is the latest confirmation but not the best.
    wrong = view(db, "SELECT target_id, won, is_best FROM latest_confirmations WHERE workload='fused_wrong'")
    assert sorted((r["target_id"], r["won"], r["is_best"]) for r in wrong) == [(t[1], 1, 0), (t[2], 1, 1)]


def test_confirmations_are_one_row_per_interleaved_pair(filled):
    db, w, _, _ = filled
    rows = view(db, "SELECT * FROM confirmations ORDER BY measurement_id")
    assert len(rows) == 12  # every record_pair of the fixture, the default's row folded in
    per = {name: [r["won"] for r in rows if r["workload_id"] == wid] for name, wid in w.items()}
    assert per == {
        "won": [1],
        "lost": [0],
        "demoted": [1, 0],
        "wrong": [1, 1],
        "two": [1, 0],
        "rewon": [0, 1, 0, 1],
        "never": [],
    }
    for r in rows:  # the default's row of the pair is the one timed with it
        assert r["default_s"] == pytest.approx(statistics.median(json.loads(r["default_samples"])))
        assert r["median_s"] == pytest.approx(statistics.median(json.loads(r["samples"])))
        assert r["config_kind"] == "trace" and r["measured_at"] > 0


def test_model_best_configs_are_the_bests_of_each_models_workloads(filled):
    db, _, t, _ = filled
    for m in db.models():
        model = db.model(m["name"], m["compiler"])
        for tid in t.values():
            want = sorted(
                (wl["name"], weight, db.best(wl["id"], tid).config_id)
                for wl, weight in model["workloads"]
                if db.best(wl["id"], tid) is not None
            )
            rows = view(
                db,
                "SELECT workload, weight, config_id FROM model_best_configs WHERE model=? AND target_id=?",
                m["name"],
                tid,
            )
            assert sorted((r["workload"], r["weight"], r["config_id"]) for r in rows) == want
    one_line = view(db, "SELECT model, workload, speedup FROM model_best_configs ORDER BY model, workload")
    assert [(r["model"], r["workload"]) for r in one_line] == [
        ("mlp", "fused_two"),
        ("mlp", "fused_won"),
        ("mlp", "fused_wrong"),
        ("other", "fused_rewon"),
    ]


def test_model_results_are_the_model_measurements(filled):
    db, _, t, job = filled
    rows = view(db, "SELECT * FROM model_results ORDER BY id")
    assert [(r["model"], r["speedup"], r["job_id"], r["device_model"]) for r in rows] == [
        ("mlp", 2.0, job, "cpu one"),
        ("mlp", 1.8, job, "cpu one"),
    ]
    latest = db.latest_model_measurement(db.model("mlp")["id"], t[1])
    assert rows[-1]["tuned_s"] == pytest.approx(latest["tuned_median"])
    assert rows[-1]["default_s"] == pytest.approx(latest["default_median"])


def test_measurements_named_are_the_outcomes_with_names(filled):
    db, w, t, _ = filled
    total = 0
    for name, wid in w.items():
        for tid in t.values():
            want = [
                (o["id"], o["status"], o["source"], o["median"], o["error"], o["kind"], o["config"])
                for o in db.outcomes(wid, tid)
            ]
            rows = view(
                db,
                "SELECT * FROM measurements_named WHERE workload_id=? AND target_id=? ORDER BY id",
                wid,
                tid,
            )
            got = [
                (r["id"], r["status"], r["source"], r["median_s"], r["error"], r["config_kind"], r["config"])
                for r in rows
            ]
            assert got == want, name
            assert all(r["workload"] == f"fused_{name}" and r["compiler_version"] == "0.27.0" for r in rows)
            total += len(rows)
    assert total == db.stats()["measurements"] == len(view(db, "SELECT id FROM measurements_named"))


def test_job_models_are_what_the_job_reported(filled):
    db, _, _, job = filled
    rows = view(db, "SELECT * FROM job_models WHERE job_id=? ORDER BY rowid", job)
    api = db.job_models(job)
    assert [r["model"] for r in rows] == [r["model"] for r in api] == ["mlp", "broken"]
    for r, a in zip(rows, api):
        assert json.loads(r["result"]) == a["result"]
        assert (r["status"], r["trials"], r["failures"], r["seconds"]) == (
            a["status"],
            a["trials"],
            a["failures"],
            a["seconds"],
        )


def test_what_a_merge_brings_never_shows_as_a_best(filled, tmp_path):
    db, w, t, _ = filled
    with open_db(tmp_path / "elsewhere.sqlite") as other:
        ot = other.target_id(T1)
        ow = other.add_workload("tvm:sh1:lost", "tvm", "fused_lost", "{}")
        other.record_pair(ow, "trace", trace(9), ot, [3e-3] * 3, [1e-3] * 3)  # won, elsewhere
        assert other.best(ow, ot) is not None
        before = view(db, "SELECT * FROM best_configs ORDER BY workload_id, target_id")
        assert db.merge_from(other)["measurements"] == 2
    assert db.best(w["lost"], t[1]) is None
    assert view(db, "SELECT * FROM best_configs ORDER BY workload_id, target_id") == before
    merged = view(db, "SELECT host, status FROM measurements_named WHERE host LIKE '%(merged)'")
    assert len(merged) == 2 and not view(db, "SELECT 1 FROM confirmations WHERE host LIKE '%(merged)'")


def test_a_confirmation_from_before_hosts_were_kept_counts_as_this_hosts(tmp_path):
    """A pair without a host (a file of schema 1) that a later local loss demoted is no best in
    the views either: the view and `best()` read the same latest confirmation."""
    with open_db(tmp_path / "old.sqlite") as db:
        t = db.target_id(T1)
        w = db.add_workload("tvm:sh1:x", "tvm", "fused_x", "{}")
        db.record_pair(w, "trace", trace(1), t, [2e-3] * 3, [1e-3] * 3)
        db.conn.execute("UPDATE measurements SET host=NULL")  # as schema 1 wrote it
        assert db.best(w, t) is not None and len(view(db, "SELECT * FROM best_configs")) == 1
        db.record_pair(w, "trace", trace(2), t, [1e-3] * 3, [2e-3] * 3)  # lost here, later
        assert db.best(w, t) is None
        assert view(db, "SELECT * FROM best_configs") == []
        assert len(view(db, "SELECT * FROM latest_confirmations")) == 1
