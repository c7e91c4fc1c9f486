"""End to end on TVM: tune a zoo model with the CLI into a real SQLite file, query it,
re-run it, and compile with it; the tuned build beside PyTorch eager and torch.compile."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.timeout(600)

TRIALS = 32  # 8 for each of the mlp's 3 subgraphs, 8 more to the largest gap


@pytest.fixture(scope="module")
def tuned_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("tune") / "tuning.sqlite"
    r = run_cli("tune", "--model", "mlp", "--trials", str(TRIALS), "--db", str(db), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "mlp" in r.stdout and "tuned" in r.stdout
    (db.parent / "tune.out").write_text(r.stdout)
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
        # The job says where the gain pass put its trials, and they were measured there.
        out = (tuned_db.parent / "tune.out").read_text()
        m = re.search(r"budget: 24 trials by default time, 8 by expected gain: 8 to (\w+) \(saved", out)
        assert m, out
        counts = {w["name"]: db.count(w["id"], tid, source="tune") for w, _ in model["workloads"]}
        assert counts.pop(m.group(1)) == 16 and set(counts.values()) == {8}
        # The GNN's time inside MetaSchedule is the profile's cost model time (it read 0.0).
        cm = re.search(r"time [\d.]+ s: .*cost model ([\d.]+)", out)
        assert cm and float(cm.group(1)) > 0, out


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
    assert e2e["speedup"] > 1.5, (e2e, (tuned_db.parent / "tune.out").read_text())
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


# --- baselines: what users would run instead of the tuned build ------------------------
def test_the_job_measures_pytorch_eager_and_torch_compile_into_the_database(tuned_db):
    from autotune.db import open_db

    summary = (tuned_db.parent / "tune.out").read_text()
    assert "  vs PyTorch eager " in summary and "  vs torch.compile" in summary, summary
    with open_db(tuned_db, readonly=True) as db:
        ((tid, _),) = db.targets()
        got = db.baselines(db.model("mlp")["id"], tid)
    assert set(got) == {"torch", "torch.compile"}
    eager = got["torch"]
    assert eager["status"] == "ok" and eager["job_id"] == 1 and eager["version"].startswith("torch ")
    assert len(eager["samples"]) == len(eager["tuned_samples"]) > 0 and eager["speedup"] > 0
    compiled = got["torch.compile"]
    if compiled["status"] == "ok":  # it compiled: how long that took is kept
        assert compiled["setup_s"] > 0 and compiled["version"].endswith("inductor")
    else:  # where inductor cannot run, it says why, and the job went on
        assert compiled["status"] == "unavailable" and compiled["error"]


def test_best_shows_the_tuned_build_beside_pytorch(tuned_db):
    from autotune.tuning.report import slower_line

    data = json.loads(run_cli("best", "mlp", "--db", str(tuned_db), "--json").stdout)
    eager = {b["name"]: b for b in data["baselines"]}["torch"]
    assert eager["label"] == "PyTorch eager" and eager["tuned_s"] > 0 and eager["baseline_s"] > 0
    text = run_cli("best", "mlp", "--db", str(tuned_db)).stdout
    (line,) = [ln for ln in text.splitlines() if ln.startswith("  PyTorch eager ")]
    assert any(
        w in line for w in ("x faster than PyTorch eager", "x of PyTorch eager: slower", "on par with")
    )
    plain = slower_line(eager["speedup"], "PyTorch eager")
    assert plain is None or plain in text.splitlines()


def test_a_second_end_to_end_times_eager_again_but_not_torch_compile(tuned_db, tmp_path):
    import shutil

    from autotune import backends
    from autotune.db import open_db
    from autotune.tuning.model import ModelTuner, Settings
    from autotune.tuning.report import baseline_text

    path = shutil.copyfile(tuned_db, tmp_path / "copy.sqlite")  # a copy: still this host's rows
    be = backends.get("tvm")

    def per_name(db) -> dict:
        names = [r["name"] for t, r in db.dump() if t == "baselines"]
        return {n: names.count(n) for n in ("torch", "torch.compile")}

    with open_db(path) as db:
        before = per_name(db)
        job = db.start_job({"test": "a second end to end"})
        with be.open(be.resolve_target("llvm"), db, job) as session:
            tuner = ModelTuner(be, session, db, job, Settings(cost_model="none"))
            plan = tuner.prepare("mlp", "mlp")
            e2e = tuner.end_to_end(plan)
            tuner.close()
        after = per_name(db)
    # PyTorch eager is cheap: timed again against the tuned build of now; torch.compile's
    # compile is paid once per model and target: its row of the first job is read back.
    assert after == {"torch": before["torch"] + 1, "torch.compile": before["torch.compile"]}
    views = {b["name"]: b for b in e2e["baselines"]}
    assert views["torch"]["job_id"] == job and views["torch.compile"]["job_id"] == 1
    assert plan.profile.baselines > 0
    if views["torch.compile"]["status"] == "ok":
        assert "measured in job 1 against its tuned build" in baseline_text(views["torch.compile"], job)


def test_best_says_plainly_when_pytorch_eager_is_faster(tmp_path):
    from autotune import backends
    from autotune.db import TargetInfo, open_db
    from autotune.tuning.report import JobReport, ModelResult, baseline_view

    path = tmp_path / "t.sqlite"
    with open_db(path) as db:
        tid = db.target_id(TargetInfo("llvm", "cpu", ("avx2",), "tvm", "0.27.0"))
        wid = db.add_workload("tvm:sh1:ab", "tvm", "fused_dense", "{}")
        mid = db.set_model("tiny", "tvm", "tiny", [(wid, 1)])
        db.record(wid, "default", {}, tid, "ok", [2e-4], source="default")
        job = db.start_job({})
        db.add_model_measurement(mid, tid, [2.4e-4] * 3, [4.8e-4] * 3, 2.0, job)
        db.add_baseline(mid, tid, "torch", "ok", [1e-4] * 3, [2.4e-4] * 3, version="torch 2.13.0", job_id=job)
        db.add_baseline(mid, tid, "torch.compile", "unavailable", error="compile took over 180 s", job_id=job)
        stored = db.baselines(mid, tid)
        views = [baseline_view(stored[n], label) for n, label in backends.get("tvm").baselines.items()]
    r = run_cli("best", "tiny", "--db", str(path))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "  PyTorch eager 0.100 ms: 0.42x of PyTorch eager: slower" in lines
    assert "  torch.compile: unavailable: compile took over 180 s" in lines
    assert lines[-1] == "tuned build is 2.4x slower than PyTorch eager on this target"
    data = json.loads(run_cli("best", "tiny", "--db", str(path), "--json").stdout)
    assert [(b["name"], b["status"]) for b in data["baselines"]] == [
        ("torch", "ok"),
        ("torch.compile", "unavailable"),
    ]
    # The job's summary table says the same, one line per baseline.
    report = JobReport(job, str(path), 1.0, [ModelResult("tiny", "tvm", "tuned", baselines=views)])
    table = report.table().splitlines()
    assert "  vs PyTorch eager 0.100 ms: 0.42x of PyTorch eager: slower" in table
    assert "  vs torch.compile: unavailable: compile took over 180 s" in table


def test_a_torch_compile_over_its_bound_is_unavailable_and_says_why():
    """The bound is SIGALRM in the main thread; a timer set before (this test's timeout) is
    set again afterwards."""
    import signal

    from autotune import zoo
    from autotune.backends.tvm import baselines, importer
    from autotune.backends.tvm.workload import resolve_target

    m = zoo.create("mlp")
    ex = importer.build_default(importer.to_relax(m.module, m.example_inputs), resolve_target("llvm"))
    inputs = [x.numpy() for x in m.example_inputs]
    before = signal.getitimer(signal.ITIMER_REAL)[0]
    out = baselines.measure(
        m.module, m.example_inputs, inputs, ex, ex, 2, 2, ["torch.compile", "torch"], 0.01
    )
    assert out["torch.compile"].status == "unavailable"
    assert out["torch.compile"].error == "compile took over 0.01 s"
    assert out["torch"].status == "ok"  # the job goes on with the others
    if before:
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= before


def test_a_metaschedule_log_imported_without_defaults_is_training_data(tuned_db, tmp_path):
    """A ranking needs no default: the job's records exported as a MetaSchedule log and
    imported into a database that holds no default of them are a cost model's training data
    (each workload's candidates against its fastest), and `costmodel eval` runs on them."""
    from autotune.costmodel.dataset import load_dataset
    from autotune.db import open_db

    ms, imported = tmp_path / "ms", tmp_path / "imported.sqlite"
    assert run_cli("db", "export", "--format", "metaschedule", str(ms), "--db", str(tuned_db)).returncode == 0
    r = run_cli("db", "import", "--format", "metaschedule", str(ms), "--db", str(imported))
    assert r.returncode == 0, r.stderr[-2000:]
    with open_db(imported, readonly=True) as db:
        assert db.stats()["measurements"] > 0
        ((tid, _),) = db.targets()
        assert all(
            db.default_latency(w["id"], tid) is None for w in db.workloads(compiler="tvm", with_ir=False)
        )
        data = load_dataset(db, "tvm")
    assert len(set(data.groups)) >= 2, data.names
    for g in set(data.groups):
        assert min(r for r, grp in zip(data.relative, data.groups) if grp == g) == 1.0
    r = run_cli(
        "costmodel", "eval", "--db", str(imported), "--backend", "tvm", "--test-fraction", "0.4",
        "--epochs", "2", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert [row["model"] for row in json.loads(r.stdout)["held_out"]] == ["gnn", "xgboost", "random"]
