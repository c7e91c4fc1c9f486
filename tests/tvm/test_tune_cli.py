"""End to end on TVM: tune a zoo model with the CLI into a real SQLite file, query it,
re-run it, and compile with it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(600)

TRIALS = 12


@pytest.fixture(scope="module")
def tuned_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("tune") / "tuning.sqlite"
    r = run_cli("tune", "--model", "mlp", "--trials", str(TRIALS), "--db", str(db), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "mlp" in r.stdout and "tuned" in r.stdout
    return db


def test_every_trial_and_default_is_recorded(tuned_db):
    from autotune.db import open_db

    with open_db(tuned_db, readonly=True) as db:
        assert db.check() == []
        model = db.model("mlp")
        assert model is not None and len(model["workloads"]) == 3
        ((tid, _),) = db.targets()
        tune = sum(db.count(w["id"], tid, source="tune") for w, _ in model["workloads"])
        assert tune == TRIALS
        # Defaults are timed by the same runner as the candidates, without failures.
        assert [
            o["status"]
            for w, _ in model["workloads"]
            for o in db.outcomes(w["id"], tid)
            if o["source"] == "default"
        ] == ["ok"] * 3
        for w, _ in model["workloads"]:
            assert db.default_latency(w["id"], tid) is not None
            assert db.tuned_trials(w["id"], tid) is not None
            assert db.fastest(w["id"], tid)
            assert db.best(w["id"], tid) is not None  # tuned TIR beats untuned TIR by far
        assert db.latest_model_measurement(model["id"], tid) is not None


def test_best_reports_each_subgraph_and_end_to_end(tuned_db):
    r = run_cli("best", "mlp", "--db", str(tuned_db), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["subgraphs"]) == 3
    for s in data["subgraphs"]:
        assert s["best_s"] > 0 and s["default_s"] > 0 and s["speedup"] > 0
        assert s["tuned"]
    assert any(isinstance(s["schedule"], list) and s["schedule"] for s in data["subgraphs"])
    e2e = data["end_to_end"]
    assert e2e["tuned_s"] > 0 and e2e["default_s"] > 0
    # Unscheduled TIR vs tuned (parallel, vectorised) code: many times slower, far beyond noise.
    assert e2e["speedup"] > 1.5
    text = run_cli("best", "mlp", "--db", str(tuned_db))
    assert text.returncode == 0 and "end to end" in text.stdout and "SamplePerfectTile" in text.stdout


def test_rerun_skips_tuned_workloads(tuned_db):
    from autotune.db import open_db

    with open_db(tuned_db, readonly=True) as db:
        before = db.stats()["measurements"]
    r = run_cli("tune", "--model", "mlp", "--trials", str(TRIALS), "--db", str(tuned_db), "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "skipped" in r.stdout
    with open_db(tuned_db, readonly=True) as db:
        assert db.stats()["measurements"] == before


def test_compile_applies_records_and_matches_torch(tuned_db):
    import tvm
    from tvm.s_tir import meta_schedule as ms

    import autotune.tvm
    from autotune import zoo
    from autotune.backends.tvm import importer
    from autotune.backends.tvm.database import MetaScheduleDatabase
    from autotune.backends.tvm.workload import resolve_target
    from autotune.db import open_db

    m = zoo.create("mlp")
    want = m.module(*m.example_inputs).detach().numpy()
    mod = importer.to_relax(m.module, m.example_inputs)
    # A plain Target("llvm") resolves to the same fully described target as the tuning job's.
    ex = autotune.tvm.compile(mod, tvm.target.Target("llvm"), db=str(tuned_db))
    target = resolve_target("llvm")
    got = importer.run(ex, [x.numpy() for x in m.example_inputs])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # The compile-time lookup finds a tuned record for every subgraph of the model.
    with open_db(tuned_db, readonly=True) as db:
        msdb = MetaScheduleDatabase(db, target, apply=True)
        tasks = ms.relax_integration.extract_tasks(importer.fuse(mod, target), target)
        with target:
            found = [msdb.query_tuning_record(t.dispatched[0], target, t.task_name) for t in tasks]
        assert all(r is not None for r in found)


def test_compile_without_database_is_the_default_build(tmp_path):
    import autotune.tvm
    from autotune import zoo
    from autotune.backends.tvm import importer

    m = zoo.create("mlp")
    mod = importer.to_relax(m.module, m.example_inputs)
    ex = autotune.tvm.compile(mod, "llvm", db=str(tmp_path / "missing.sqlite"))
    got = importer.run(ex, [x.numpy() for x in m.example_inputs])[0]
    np.testing.assert_allclose(got, m.module(*m.example_inputs).detach().numpy(), rtol=1e-4, atol=1e-4)
    assert not (tmp_path / "missing.sqlite").exists()


def test_best_unknown_model_is_one_line(tuned_db):
    r = run_cli("best", "no-such-model", "--db", str(tuned_db))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "unknown model" in r.stderr
