"""The contract every tuning-database implementation meets, run over `autotune.db.kinds()`.

A new implementation registers itself with `@register(kind)` and gets all of these tests;
the two tests that damage a store on purpose need an entry in CORRUPTERS / VERSION_READERS.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from autotune.db import DatabaseError, TargetInfo, create, kinds
from autotune.db.schema import latest_version

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(params=kinds())
def make_db(request, tmp_path):
    """make_db(path=None) -> an open database of the parametrized kind (closed at teardown)."""
    opened = []

    def make(path: Path | None = None):
        db = create(request.param, path or tmp_path / f"{request.param}-{len(opened)}.sqlite")
        opened.append(db)
        return db

    make.kind = request.param
    yield make
    for db in opened:
        db.close()


def target(n: int = 0, **kw) -> TargetInfo:
    d = dict(
        kind="llvm",
        device_model=f"cpu model {n}",
        isa_features=("avx2", "fma"),
        compiler="tvm",
        compiler_version="0.27.0",
        libraries={"llvm": "17"},
        target_json={"kind": "llvm", "num-cores": 2},
    )
    d.update(kw)
    return TargetInfo(**d)


def trace(n: int) -> dict:
    return {"trace": [[["SamplePerfectTile", ["l0"], [4, 64], ["v1"]]], [[0, [n, 1, 1, 32 // n]]]]}


def rows(db, table: str) -> list[dict]:
    return [row for t, row in db.dump() if t == table]


def content(db) -> dict[str, list]:
    """The database's content without local ids: what a merge must preserve."""
    wl = {r["id"]: r["fingerprint"] for r in rows(db, "workloads")}
    cfg = {r["id"]: r["key"] for r in rows(db, "configs")}
    tg = {r["id"]: r["key"] for r in rows(db, "targets")}
    return {
        "targets": sorted(tg.values()),
        "workloads": sorted(wl.values()),
        "configs": sorted(cfg.values()),
        "measurements": sorted(
            (r["uid"], cfg[r["config_id"]], tg[r["target_id"]], r["status"], r["samples"])
            for r in rows(db, "measurements")
        ),
        "tuned": sorted((wl[r["workload_id"]], tg[r["target_id"]]) for r in rows(db, "tuned")),
    }


# --- identities -------------------------------------------------------------------
def test_target_id_is_idempotent(make_db):
    db = make_db()
    assert db.find_target(target(1)) is None
    assert rows(db, "targets") == []  # find_target never writes
    a = db.target_id(target(1))
    assert db.target_id(target(1)) == a
    assert db.find_target(target(1)) == a
    b = db.target_id(target(2))
    assert b != a
    # Every field is part of the identity.
    assert db.target_id(target(1, compiler_version="0.28.0")) not in (a, b)
    assert db.target_id(target(1, isa_features=("fma", "avx2"))) == a  # feature order does not matter
    assert len(rows(db, "targets")) == 3


def test_add_workload_is_idempotent(make_db):
    db = make_db()
    w = db.add_workload("tvm:sh1:01", "tvm", "matmul", "{ir}", {"flops": 10})
    assert db.add_workload("tvm:sh1:01", "tvm", "other name", "{other}") == w
    row = db.workload("tvm:sh1:01")
    assert row["id"] == w and row["name"] == "matmul" and row["ir"] == "{ir}" and row["meta"] == {"flops": 10}
    assert db.workload("tvm:sh1:02") is None
    assert db.add_workload("tvm:sh1:02", "tvm", "add", "{ir2}") != w
    assert db.workload("tvm:sh1:02")["meta"] == {}


def test_workloads_lists_by_compiler_with_or_without_ir(make_db):
    db = make_db()
    a = db.add_workload("tvm:sh1:01", "tvm", "matmul", "{ir}", {"flops": 10})
    db.add_workload("xla:sh1:01", "xla", "dot", "HloModule m")
    full, light = db.workloads("tvm"), db.workloads("tvm", with_ir=False)
    assert [w["id"] for w in full] == [w["id"] for w in light] == [a]
    assert full[0]["ir"] == "{ir}" and light[0]["ir"] == ""
    assert {k: v for k, v in full[0].items() if k != "ir"} == {k: v for k, v in light[0].items() if k != "ir"}
    assert len(db.workloads()) == 2


# --- outcomes and the best-config query --------------------------------------------
@pytest.fixture
def wt(make_db):
    db = make_db()
    return db, db.add_workload("tvm:sh1:aa", "tvm", "matmul", "{}"), db.target_id(target())


def test_fastest_orders_by_median(wt):
    db, w, t = wt
    assert db.fastest(w, t) == []
    db.record(w, "trace", trace(1), t, "ok", [3e-3, 3.2e-3, 2.9e-3])
    db.record(w, "trace", trace(2), t, "ok", [1e-3, 1.1e-3, 1.05e-3])
    db.record(w, "trace", trace(4), t, "ok", [2e-3])
    db.record(w, "default", {}, t, "ok", [5e-3], source="default")
    best = db.fastest(w, t, k=10)
    assert [b.config for b in best] == [trace(2), trace(4), trace(1), {}]
    assert [b.median for b in best] == [1.05e-3, 2e-3, 3e-3, 5e-3]
    assert best[0].kind == "trace" and best[-1].kind == "default"
    assert best[0].samples == [1e-3, 1.1e-3, 1.05e-3]
    assert db.fastest(w, t) == best[:1]
    other = db.target_id(target(9))
    assert db.fastest(w, other) == []  # results never leak across targets
    assert db.default_latency(w, t) == 5e-3 and db.default_latency(w, other) is None
    # Fast tuning runs alone never make a best: only a confirmed win over the default does.
    assert db.best(w, t) is None and db.best_for("tvm:sh1:aa", t) is None


@pytest.mark.parametrize("status", ["build_error", "run_error", "timeout"])
def test_failures_are_never_fastest(wt, status):
    db, w, t = wt
    db.record(w, "trace", trace(1), t, status, error="boom")
    db.record(w, "trace", trace(1), t, status, [1e-9], error="boom")  # even with a (bogus) sample
    assert db.fastest(w, t) == []
    db.record(w, "trace", trace(2), t, "ok", [4e-3])
    db.record(w, "trace", trace(2), t, status, error="flaky")
    best = db.fastest(w, t, k=5)
    assert [b.config for b in best] == [trace(2)] and best[0].runs == 1


def test_wrong_result_is_never_fastest(wt):
    db, w, t = wt
    db.record(w, "trace", trace(1), t, "ok", [1e-4])  # the fastest ...
    db.record(w, "trace", trace(1), t, "wrong_result", [1e-4], error="max abs diff 3.0")  # ... but wrong
    db.record(w, "trace", trace(1), t, "ok", [1e-4])
    db.record(w, "trace", trace(2), t, "ok", [9e-4])
    assert [b.config for b in db.fastest(w, t, k=5)] == [trace(2)]


def test_best_is_the_latest_confirmed_winner(wt):
    """The one rule every caller uses (loaders, `autotune best`, the job report)."""
    db, w, t = wt
    opts = {"opt:xla_cpu_prefer_vector_width": 512}
    assert db.best(w, t) is None and db.confirmation(w, t) is None  # never confirmed: the default
    db.record(w, "options", opts, t, "ok", [1e-3])
    db.record_pair(w, "options", opts, t, [2e-3, 2.1e-3], [1.5e-3, 1.4e-3])
    won = db.best(w, t)
    assert won is not None and won.config == opts and won.median == pytest.approx(1.45e-3)
    assert (
        won.speedup == pytest.approx((2e-3 / 1.5e-3 + 2.1e-3 / 1.4e-3) / 2) == db.confirmation(w, t).speedup
    )
    assert db.best_for("tvm:sh1:aa", t) == won and db.best_for("tvm:sh1:missing", t) is None
    assert db.best(w, db.target_id(target(9))) is None  # not across targets
    # A later confirmation that the default wins demotes it; it stays the latest confirmation.
    db.record_pair(w, "options", opts, t, [1e-3], [1.2e-3])
    assert db.best(w, t) is None
    lost = db.confirmation(w, t)
    assert lost.config == opts and not lost.won() and lost.speedup == pytest.approx(1 / 1.2)
    # A win within the margin (2%) is no win.
    db.record_pair(w, "options", opts, t, [1e-3], [0.99e-3])
    assert db.best(w, t) is None
    # A winner found to give wrong results is never the best.
    db.record_pair(w, "options", opts, t, [2e-3], [1e-3])
    assert db.best(w, t) is not None
    db.record(w, "options", opts, t, "wrong_result", error="max abs difference 1")
    assert db.best(w, t) is None


def test_contributions_are_the_latest_ablation_of_each_decision(wt):
    db, w, t = wt
    both = {"opt:a": 1, "opt:b": 2}
    assert db.contributions(w, t, both) == {}
    db.record(w, "options", both, t, "ok", [1e-3, 1e-3], source="ablation")
    db.record(w, "options", {"opt:b": 2}, t, "ok", [1.2e-3, 1.4e-3], source="ablation")
    db.record(w, "options", both, t, "ok", [1e-3], source="ablation")
    db.record(w, "options", {"opt:a": 1}, t, "ok", [0.9e-3], source="ablation")
    got = db.contributions(w, t, both)
    assert list(got) == ["opt:a", "opt:b"]
    assert got["opt:a"] == pytest.approx(1.3) and got["opt:b"] == pytest.approx(0.9)
    # The latest ablation of a decision counts; another config's ablations do not.
    db.record(w, "options", both, t, "ok", [1e-3], source="ablation")
    db.record(w, "options", {"opt:b": 2}, t, "ok", [1.1e-3], source="ablation")
    db.record(w, "options", {"opt:a": 1, "opt:c": 3}, t, "ok", [1e-3], source="ablation")
    db.record(w, "options", {"opt:a": 1}, t, "ok", [5e-3], source="ablation")
    assert db.contributions(w, t, both)["opt:a"] == pytest.approx(1.1)
    # One decision: its contribution is the confirmed speedup over the default.
    one = {"opt:a": 1}
    db.record_pair(w, "options", one, t, [2e-3], [1e-3])
    assert db.contributions(w, t, one) == {"opt:a": pytest.approx(2.0)}
    assert db.contributions(w, t, {}) == {}


def test_lookups_by_id_and_fingerprint(wt):
    db, w, t = wt
    assert db.workload_id("tvm:sh1:aa") == w and db.workload_id("tvm:sh1:zz") is None
    big = db.add_workload(
        "xla:h1:bb", "xla", "mlp", "HloModule m", {"options": {"a": 1}, "optimized_hlo": "x" * 99}
    )
    assert db.workload_meta(big, without=("optimized_hlo",)) == {"options": {"a": 1}}
    assert db.workload_meta(big)["optimized_hlo"] == "x" * 99
    assert db.workload_by_id(big)["name"] == "mlp" and [r["id"] for r in db.workloads("xla")] == [big]
    with pytest.raises(DatabaseError):
        db.workload_meta(big + 100)
    assert db.has_target(t) and not db.has_target(t + 100)
    m = db.set_model("mlp", "tvm", "zoo:mlp", [(w, 1)])
    assert db.latest_target(m) is None  # nothing measured yet
    other = db.target_id(target(7))
    db.record(w, "trace", trace(1), t, "ok", [1e-3])
    db.record(w, "trace", trace(1), other, "run_error", error="x")
    assert db.latest_target(m) == other
    assert db.measurements_per_target() == {t: 1, other: 1}
    assert db.count_ok(t) == 1 and db.count_ok(other) == 0
    assert db.model("mlp", "tvm")["workloads"][0][0]["id"] == w and db.model("mlp", "xla") is None


def test_best_across_runs_of_one_config(wt):
    db, w, t = wt
    db.record(w, "trace", trace(1), t, "ok", [5e-3, 5e-3, 5e-3])
    db.record(w, "trace", trace(1), t, "ok", [2e-3, 2.2e-3])
    db.record(w, "trace", trace(1), t, "timeout")
    db.record(w, "trace", trace(2), t, "ok", [3e-3])
    best = db.fastest(w, t, k=5)
    assert [b.config for b in best] == [trace(1), trace(2)]  # one entry per config
    assert best[0].median == pytest.approx(2.1e-3) and best[0].samples == [2e-3, 2.2e-3]
    assert best[0].runs == 2


def test_record_validates(wt):
    db, w, t = wt
    with pytest.raises(ValueError):
        db.record(w, "trace", trace(1), t, "fast", [1e-3])
    with pytest.raises(ValueError):
        db.record(w, "trace", trace(1), t, "ok", [])
    with pytest.raises(DatabaseError):
        db.record(w + 1000, "trace", trace(1), t, "ok", [1e-3])
    assert db.count(w, t, source=None) == 0


def test_count(wt):
    db, w, t = wt
    assert db.count(w, t) == 0
    db.record(w, "trace", trace(1), t, "ok", [1e-3])
    db.record(w, "trace", trace(1), t, "build_error", error="x")
    db.record(w, "trace", trace(2), t, "timeout")
    db.record(w, "default", {}, t, "ok", [2e-3], source="default")
    db.record(w, "trace", trace(3), t, "ok", [1e-3], source="import")
    assert db.count(w, t) == 3
    assert db.count(w, t, source="default") == 1
    assert db.count(w, t, source="import") == 1
    assert db.count(w, t, source=None) == 5
    assert db.count(w, db.target_id(target(5)), source=None) == 0


def test_tuned_state_and_jobs(wt):
    db, w, t = wt
    assert not db.is_tuned(w, t)
    job = db.start_job({"jobs": ["mlp"]})
    db.mark_tuned(w, t, 16, job)
    assert db.is_tuned(w, t)
    db.mark_tuned(w, t, 32, None)  # again: updates, no error
    assert db.is_tuned(w, t)
    assert not db.is_tuned(w, db.target_id(target(3)))
    db.finish_job(job, "done")
    assert [r["status"] for r in rows(db, "jobs")] == ["done"]
    assert [r["trials"] for r in rows(db, "tuned")] == [32]


def test_set_model_replaces_composition(make_db):
    db = make_db()
    w1 = db.add_workload("tvm:sh1:01", "tvm", "a", "{}")
    w2 = db.add_workload("tvm:sh1:02", "tvm", "b", "{}")
    m = db.set_model("mlp", "tvm", "zoo:mlp", [(w1, 1), (w2, 2), (w1, 1)])
    assert sorted((r["workload_id"], r["weight"]) for r in rows(db, "model_workloads")) == [(w1, 2), (w2, 2)]
    assert db.set_model("mlp", "tvm", "zoo:mlp", [(w2, 3)]) == m
    composition = [(r["model_id"], r["workload_id"], r["weight"]) for r in rows(db, "model_workloads")]
    assert composition == [(m, w2, 3)]
    assert db.set_model("mlp", "xla", "zoo:mlp", [(w1, 1)]) != m  # one model per compiler
    assert len(rows(db, "models")) == 2


def test_model_measurement(wt):
    db, w, t = wt
    m = db.set_model("mlp", "tvm", "zoo:mlp", [(w, 1)])
    db.add_model_measurement(m, t, [1e-3, 1.2e-3], [2e-3, 2.2e-3], 1.9)
    (row,) = rows(db, "model_measurements")
    assert row["speedup"] == 1.9 and row["tuned_median"] == pytest.approx(1.1e-3)


def test_baselines_latest_local_row_per_name(wt):
    db, w, t = wt
    m = db.set_model("mlp", "tvm", "zoo:mlp", [(w, 1)])
    assert db.baselines(m, t) == {}
    job = db.start_job({"models": ["mlp"]})
    db.add_baseline(
        m, t, "torch", "ok", [4e-3, 5e-3, 6e-3], [2e-3, 2e-3, 3e-3], version="torch 2.1", job_id=job
    )
    db.add_baseline(m, t, "torch", "ok", [3e-3, 3e-3], [1e-3, 1.5e-3], version="torch 2.1", job_id=job)
    db.add_baseline(
        m, t, "torch.compile", "unavailable", error="compile took over 180 s", version="torch 2.1"
    )
    db.add_baseline(m, t, "torch", "ok", [1e-9], [1.0], host="elsewhere")  # another host's claim
    got = db.baselines(m, t)
    assert set(got) == {"torch", "torch.compile"}
    eager = got["torch"]  # the latest of this host: medians and the paired speedup computed here
    assert eager["samples"] == [3e-3, 3e-3] and eager["tuned_samples"] == [1e-3, 1.5e-3]
    assert eager["median_s"] == pytest.approx(3e-3) and eager["tuned_median_s"] == pytest.approx(1.25e-3)
    assert eager["speedup"] == pytest.approx((3 + 2) / 2) and eager["job_id"] == job
    assert eager["version"] == "torch 2.1" and eager["setup_s"] is None
    compiled = got["torch.compile"]
    assert (
        compiled["status"] == "unavailable" and compiled["median_s"] is None and compiled["speedup"] is None
    )
    assert "180 s" in compiled["error"]
    assert db.baselines(m, db.target_id(target(9))) == {}  # never across targets
    with pytest.raises(ValueError):
        db.add_baseline(m, t, "torch", "ok", [], [])  # 'ok' needs samples ...
    with pytest.raises(ValueError):
        db.add_baseline(m, t, "torch", "ok", [1e-3, 1e-3], [1e-3])  # ... paired with the tuned build's
    with pytest.raises(ValueError):
        db.add_baseline(m, t, "torch", "fast", [1e-3], [1e-3])
    assert len(rows(db, "baselines")) == 4 and db.check() == []


# --- whole-database operations -----------------------------------------------------
def fill(db, tag: str, shared_fast: float) -> None:
    """Content partly shared with another database (same target, workload, configs)."""
    t = db.target_id(target())
    w = db.add_workload("tvm:sh1:shared", "tvm", "matmul", "{}")
    job = db.start_job({"tag": tag})
    db.record(w, "trace", trace(1), t, "ok", [shared_fast], job_id=job)
    db.record(w, "trace", trace(2), t, "run_error", error=tag, job_id=job)
    own = db.add_workload(f"tvm:sh1:{tag}", "tvm", tag, "{}")
    db.record(own, "trace", trace(4), db.target_id(target(ord(tag[0]))), "ok", [1e-3])
    db.mark_tuned(w, t, 2, job)
    m = db.set_model(f"model-{tag}", "tvm", "zoo", [(w, 1), (own, 1)])
    db.add_model_measurement(m, t, [1.0], [2.0], 2.0, job)
    db.finish_job(job, "done")


def test_merge_from(make_db):
    a, b = make_db(), make_db()
    fill(a, "a", 5e-3)
    fill(b, "b", 1e-3)
    before_a, before_b = content(a), content(b)
    added = a.merge_from(b)
    assert added["measurements"] == 3 and added["workloads"] == 1 and added["configs"] == 1
    after = content(a)
    for key in after:
        assert set(after[key]) == set(before_a[key]) | set(before_b[key]), key
    assert len(after["measurements"]) == 6
    assert len(after["workloads"]) == 3 and len(after["configs"]) == 4  # shared ones not duplicated
    # The faster run measured in b is now the best in a.
    t = a.find_target(target())
    best = a.fastest(a.workload_id("tvm:sh1:shared"), t)
    assert best[0].median == 1e-3 and best[0].runs == 2
    # Merging again, or merging back, adds nothing.
    assert sum(a.merge_from(b).values()) == 0
    assert content(a) == after
    assert set(a.stats().items()) >= {("measurements", 6), ("jobs", 2), ("models", 2)}
    b.merge_from(a)
    assert content(b) == after
    assert sum(b.merge_from(a).values()) == 0
    assert a.check() == [] and b.check() == []


def test_merged_baselines_are_kept_but_never_read_as_local(make_db):
    a, b = make_db(), make_db()
    for db in (a, b):
        fill(db, "a", 1e-3)
    t = b.find_target(target())
    m = b.model("model-a", "tvm")["id"]
    b.add_baseline(m, t, "torch", "ok", [2e-3], [1e-3], version="torch 2.1")
    a.merge_from(b)
    (row,) = rows(a, "baselines")
    assert row["host"].endswith("(merged)") and row["speedup"] == pytest.approx(2.0)
    ma = a.model("model-a", "tvm")["id"]
    assert a.baselines(ma, a.find_target(target())) == {}  # measured elsewhere: not this host's
    a.add_baseline(ma, a.find_target(target()), "torch", "ok", [1e-3], [1e-3])
    assert a.baselines(ma, a.find_target(target()))["torch"]["speedup"] == pytest.approx(1.0)
    assert sum(a.merge_from(b).values()) == 0  # no duplicates
    assert a.check() == []


def test_merge_into_empty_equals_copy(make_db):
    a, empty = make_db(), make_db()
    fill(a, "a", 2e-3)
    empty.merge_from(a)
    empty.merge_from(a)
    assert content(empty) == content(a)
    assert empty.stats() == a.stats()


def test_check_clean_on_fresh_and_filled(make_db):
    db = make_db()
    assert db.check() == []
    fill(db, "x", 1e-3)
    assert db.check() == []


def _corrupt_sqlite_samples(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE measurements SET samples='not json' WHERE id=(SELECT MIN(id) FROM measurements)")
    conn.close()


def _corrupt_sqlite_config(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE configs SET config='{\"trace\": 1}' WHERE id=(SELECT MIN(id) FROM configs)")
    conn.close()


CORRUPTERS = {"sqlite": [_corrupt_sqlite_samples, _corrupt_sqlite_config]}


@pytest.mark.parametrize("which", [0, 1], ids=["samples-not-json", "config-edited"])
def test_check_finds_corrupted_row(make_db, tmp_path, which):
    path = tmp_path / "corrupt.sqlite"
    db = make_db(path)
    fill(db, "x", 1e-3)
    db.close()
    CORRUPTERS[make_db.kind][which](path)
    db = make_db(path)
    problems = db.check()
    assert len(problems) == 1, problems
    assert ("samples" in problems[0]) if which == 0 else ("key does not match" in problems[0])


def _sqlite_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
    finally:
        conn.close()


VERSION_READERS = {"sqlite": _sqlite_version}


def test_schema_version_is_latest(make_db, tmp_path):
    path = tmp_path / "v.sqlite"
    db = make_db(path)
    db.close()
    assert VERSION_READERS[make_db.kind](path) == latest_version()
    assert latest_version() >= 1
