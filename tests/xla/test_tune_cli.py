"""End to end on XLA: tune JAX zoo models with the CLI into a real SQLite file, query them,
re-run, resume after SIGKILL, and compile with `autotune.jax.jit`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import jax
import numpy as np
import pytest

import autotune.jax
from autotune import zoo
from autotune.db import open_db
from tests.conftest import ROOT, run_cli, tune_count

pytestmark = pytest.mark.timeout(600)

TRIALS = 10


@pytest.fixture(scope="module")
def tuned_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("tune") / "tuning.sqlite"
    r = run_cli(
        "tune",
        "--backend",
        "xla",
        "--model",
        "mlp",
        "--trials",
        str(TRIALS),
        "--db",
        str(db),
        "--no-progress",
        "--report",
        str(db.parent / "report"),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "mlp" in r.stdout and "xla" in r.stdout and "tuned" in r.stdout
    assert "time " in r.stdout and "worker start" in r.stdout  # the tuning time breakdown
    return db


def test_the_job_wrote_its_report_and_its_model_rows(tuned_db):
    """`--report DIR`: the real job's page, with its curves and where its time went."""
    page = (tuned_db.parent / "report" / "report.html").read_text()
    assert "<h2>Tuning curves</h2>" in page and "<h2>Where the time went</h2>" in page
    assert page.count("data:image/png;base64,") >= 3
    with open_db(tuned_db, readonly=True) as db:
        (row,) = db.job_models(db.jobs()[0]["id"])
        assert row["model"] == "mlp" and row["compiler"] == "xla" and row["trials"] == TRIALS
        assert row["result"]["profile"]["compile_s"] > 0 and row["seconds"] > 0


def _ids(db, name="mlp"):
    model = db.model(name, "xla")
    ((tid, info),) = db.targets()
    return model, model["workloads"][0][0]["id"], tid, info


def test_every_outcome_is_recorded(tuned_db):
    with open_db(tuned_db, readonly=True) as db:
        assert db.check() == []
        model, wid, tid, info = _ids(db)
        assert info.compiler == "xla" and info.kind == "cpu"
        w = model["workloads"][0][0]
        assert w["fingerprint"].startswith("xla:h1:") and "ENTRY" in w["ir"]
        assert "fusion" in w["meta"]["optimized_hlo"] and w["meta"]["args"]
        assert db.count(wid, tid, source="tune") >= TRIALS
        assert db.default_latency(wid, tid) is not None
        assert db.tuned_trials(wid, tid) >= TRIALS
        outcomes = db.outcomes(wid, tid)
        assert {o["source"] for o in outcomes} >= {"default", "tune"}
        # Configs are plain JSON of named decisions.
        for o in outcomes:
            for name in json.loads(o["config"]):
                assert name.split(":")[0] in ("opt", "disable", "layout", "tensor", "cut")
        e2e = db.latest_model_measurement(model["id"], tid)
        assert e2e is not None and e2e["speedup"] > 0


def test_best_reports_the_winning_decisions(tuned_db):
    r = run_cli("best", "mlp", "--backend", "xla", "--db", str(tuned_db), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["compiler"] == "xla" and len(data["subgraphs"]) == 1
    s = data["subgraphs"][0]
    assert s["default_s"] > 0 and s["tuned"] and s["trials"] >= TRIALS
    assert s["schedule"] == "default" or all("=" in d for d in s["schedule"])
    text = run_cli("best", "mlp", "--backend", "xla", "--db", str(tuned_db))
    assert text.returncode == 0 and "end to end" in text.stdout
    assert run_cli("best", "mlp", "--backend", "tvm", "--db", str(tuned_db)).returncode == 2


def test_rerun_skips_what_is_tuned(tuned_db):
    r = run_cli(
        "tune",
        "--backend",
        "xla",
        "--model",
        "mlp",
        "--trials",
        str(TRIALS),
        "--db",
        str(tuned_db),
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "skipped" in r.stdout


def _confirm(db_path, config, default_s=2e-3, tuned_s=1e-3):
    """Store an interleaved confirmation in which `config` beat the default."""
    with open_db(db_path) as db:
        _, wid, tid, _ = _ids(db)
        db.record_pair(wid, "options", config, tid, [default_s] * 3, [tuned_s] * 3)


def test_jit_applies_the_confirmed_best(tuned_db, tmp_path):
    m = zoo.create("mlp", backend="xla")
    ref = np.asarray(jax.jit(m.fn)(*m.example_args))
    db_path = tmp_path / "copy.sqlite"
    with open_db(tuned_db, readonly=True) as src, open_db(db_path) as dst:
        dst.merge_from(src)
    config = {"disable:dot-library-rewriter": True, "opt:xla_cpu_prefer_vector_width": 256}
    _confirm(db_path, config)
    f = autotune.jax.jit(m.fn, db=db_path)
    out = np.asarray(f(*m.example_args))
    assert f.last.config == config and f.last.tuned
    np.testing.assert_allclose(out, ref, rtol=2e-3, atol=1e-3)
    assert "ynn" not in f.lower(*m.example_args).compile().as_text()  # the pass really was skipped
    assert f.last.lookup_s < 0.05
    # Same signature: no new lookup; new shapes: a new lookup (nothing tuned for them).
    assert f(*m.example_args).shape == ref.shape
    params, x = m.example_args
    assert f(params, x[:4]).shape == (4, 10) and not f.last.tuned


def test_jit_without_database_or_with_stale_config_is_plain_jit(tuned_db, tmp_path):
    m = zoo.create("mlp", backend="xla")
    ref = np.asarray(jax.jit(m.fn)(*m.example_args))
    f = autotune.jax.jit(m.fn, db=tmp_path / "none.sqlite")
    np.testing.assert_array_equal(np.asarray(f(*m.example_args)), ref)
    assert f.last.reason == "no database" and not tmp_path.joinpath("none.sqlite").exists()
    stale = tmp_path / "stale.sqlite"
    with open_db(tuned_db, readonly=True) as src, open_db(stale) as dst:
        dst.merge_from(src)
    _confirm(stale, {"opt:xla_cpu_option_of_an_older_jaxlib": True})
    g = autotune.jax.jit(m.fn, db=stale)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np.testing.assert_array_equal(np.asarray(g(*m.example_args)), ref)
    assert not g.last.tuned and "does not apply" in g.last.reason
    assert any("does not apply" in str(w.message) for w in caught)


def test_jit_decorator_with_static_args(tmp_path):
    @autotune.jax.jit(db=tmp_path / "none.sqlite", static_argnums=1)
    def scale(x, n):
        return x * n

    assert float(scale(np.float32(2.0), 3)) == 6.0
    assert float(scale(np.float32(2.0), 4)) == 8.0


def test_job_file_with_xla_models(tmp_path):
    job = tmp_path / "jobs.toml"
    job.write_text(
        "[job]\ntime_budget_s = 300\ndatabase = 'j.sqlite'\n"
        "[[models]]\nname = 'mlp'\nbackend = 'xla'\ntrials = 4\n"
        "[[models]]\nname = 'gpt-block'\nbackend = 'xla'\ntrials = 4\n"
    )
    r = run_cli("tune", str(job), "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    with open_db(tmp_path / "j.sqlite", readonly=True) as db:
        assert {(m["name"], m["compiler"]) for m in db.models()} == {("mlp", "xla"), ("gpt-block", "xla")}


def test_killed_job_resumes_without_repeating_a_config(tmp_path):
    db = tmp_path / "kill.sqlite"
    args = [
        "tune",
        "--backend",
        "xla",
        "--model",
        "gpt-block",
        "--trials",
        "14",
        "--db",
        str(db),
        "--no-progress",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "autotune.cli.main", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 240
    while tune_count(db) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the job and its worker
    proc.wait()
    killed_at = tune_count(db)
    assert 4 <= killed_at < 14
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    with open_db(db, readonly=True) as d:
        assert d.check() == []
        _, wid, tid, _ = _ids(d, "gpt-block")
        tune = [o for o in d.outcomes(wid, tid) if o["source"] == "tune"]
        assert len(tune) >= 14
        search = tune[:14]  # the search's own trials (simplification follows them)
        assert len({o["config_id"] for o in search}) == len(search), "a config was measured twice"
        assert d.tuned_trials(wid, tid) >= 14
