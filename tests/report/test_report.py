"""`autotune report` on a real SQLite file written through the database API: what each
section says, that the page is self-contained, and that Chromium shows its plots."""

from __future__ import annotations

import re

import pytest

from autotune.db import TargetInfo, open_db
from autotune.report import collect, write_report
from tests.conftest import run_cli
from tests.report.chromium import colored_fraction, render

pytestmark = pytest.mark.timeout(300)

TRACE = {"trace": [[["SamplePerfectTile", [], [], []]], [[0, [4, 8]]]]}
OPTIONS = {"opt:xla_cpu_prefer_vector_width": 512, "disable:call-inliner": True}


def _target(version="0.27.0", compiler="tvm"):
    return TargetInfo("llvm", "test cpu", ("avx2",), compiler, version, {}, {"kind": "llvm"})


PROFILE = {
    "total_s": 10.0,
    "worker_startup_s": 1.0,
    "compile_s": 4.0,
    "run_s": 2.0,
    "costmodel_s": 0.5,
    "default_s": 1.0,
    "baselines_s": 0.5,
    "ours_s": 1.0,
}


def _job_one(db):
    """Two models, every kind of outcome, confirmations, an ablation, end to end and a baseline."""
    tid, xid = db.target_id(_target()), db.target_id(_target("0.10.2", "xla"))
    a = db.add_workload("tvm:a", "tvm", "fused_conv2d_add", "{}")
    b = db.add_workload("tvm:b", "tvm", "fused_dense", "{}")
    f = db.add_workload("xla:f", "xla", "jit_fn", "HloModule f")
    net = db.set_model("net", "tvm", "net", [(a, 2), (b, 1)])
    fn = db.set_model("fn", "xla", "fn", [(f, 1)])
    job = db.start_job({"models": ["net", "fn"]})
    rec = lambda w, k, c, t, st, s=(), e="": db.record(w, k, c, t, st, s, error=e, job_id=job)  # noqa: E731
    rec(a, "default", {}, tid, "ok", [1e-3])
    rec(b, "default", {}, tid, "ok", [2e-3])
    rec(a, "trace", {"trace": [[], [[0, 1]]]}, tid, "ok", [0.8e-3])
    rec(a, "trace", {"trace": [[], [[0, 2]]]}, tid, "build_error", e="error: bad split\nstack ...")
    rec(b, "trace", {"trace": [[], [[0, 3]]]}, tid, "ok", [1.5e-3])
    rec(a, "trace", TRACE, tid, "ok", [0.5e-3])
    rec(b, "trace", {"trace": [[], [[0, 4]]]}, tid, "run_error", e="segfault in kernel")
    rec(b, "trace", {"trace": [[], [[0, 5]]]}, tid, "timeout", e="timed out after 10 s")
    rec(b, "trace", {"trace": [[], [[0, 6]]]}, tid, "wrong_result", [1e-3], e="max abs difference 3")
    db.record_pair(a, "trace", TRACE, tid, [1e-3] * 5, [0.5e-3] * 5, job_id=job)
    rec(f, "default", {}, xid, "ok", [4e-3])
    rec(f, "options", OPTIONS, xid, "ok", [3e-3])
    db.record_pair(f, "options", OPTIONS, xid, [4e-3] * 5, [3e-3] * 5, job_id=job)
    for without, s in (
        ({"disable:call-inliner": True}, 3.6e-3),
        ({"opt:xla_cpu_prefer_vector_width": 512}, 3.1e-3),
    ):
        db.record(f, "options", OPTIONS, xid, "ok", [3e-3], source="ablation", job_id=job)
        db.record(f, "options", without, xid, "ok", [s], source="ablation", job_id=job)
    db.add_model_measurement(net, tid, [2.6e-3, 2.4e-3, 2.5e-3], [4.1e-3, 3.9e-3, 4.0e-3], 1.6, job_id=job)
    db.add_baseline(net, tid, "torch", "ok", [5e-3, 5.2e-3], [2.5e-3, 2.4e-3], version="torch 2", job_id=job)
    db.add_model_measurement(fn, xid, [3e-3] * 3, [4e-3] * 3, 1.33, job_id=job)
    for name, compiler, t in (("net", "tvm", tid), ("fn", "xla", xid)):
        db.add_job_model(job, name, compiler, t, "tuned", 9, 4, 12.0, {"profile": PROFILE, "error": ""})
    db.finish_job(job, "done")
    return job, net, tid


def _job_two(db, net, tid):
    """A later job: net slower than before (a regression), a new compiler version, a new model
    that failed to load."""
    job = db.start_job({})
    new = db.target_id(_target("0.28.0"))
    a = db.workload_id("tvm:a")
    db.record(a, "trace", TRACE, new, "ok", [0.6e-3], job_id=job)
    db.add_model_measurement(net, tid, [3e-3] * 3, [4e-3] * 3, 1.33, job_id=job)
    db.add_job_model(job, "net", "tvm", tid, "tuned", 1, 0, 3.0, {"profile": PROFILE})
    db.add_job_model(job, "broken", "tvm", None, "failed", 0, 0, 0.1, {"error": "ImportError: no module x"})
    db.finish_job(job, "done")
    return job


@pytest.fixture
def filled(tmp_path):
    path = tmp_path / "tuning.sqlite"
    with open_db(path) as db:
        job, net, tid = _job_one(db)
        later = _job_two(db, net, tid)
    return path, job, later


def test_collect_reads_curves_failures_decisions_and_changes(filled):
    path, job, later = filled
    with open_db(path, readonly=True) as db:
        data = collect(db, job)
        net = next(m for m in data.models if m.name == "net")
        # The model's curve: weights 2 and 1, starting at the defaults (2x1 + 1x2 = 4 ms), on the
        # end-to-end scale of the measured default (4.0 ms: scale 1).
        assert net.curve.trials[0] == 0 and net.curve.best_s[0] == pytest.approx(4e-3)
        assert net.curve.best_s[-1] == pytest.approx(2 * 0.5e-3 + 1.5e-3)
        assert net.curve.best_s == sorted(net.curve.best_s, reverse=True)  # best so far never rises
        assert net.curve.trials[-1] == 9  # every tuning outcome of the model is a trial
        conv = next(s for s in net.subgraphs if s.name == "fused_conv2d_add")
        assert conv.weight == 2 and conv.curve.best_s == [1e-3, 1e-3, 0.8e-3, 0.8e-3, 0.5e-3]
        assert net.vs_default.speedup == pytest.approx(1.6) and net.vs_default.rounds == 3
        eager = next(r for r in net.ratios if r.label == "PyTorch eager")
        assert eager.speedup == pytest.approx(2.083, rel=0.01) and eager.low < eager.high
        assert net.profile["compile_s"] == 4.0
        kinds = {f.kind: f for f in data.failures}
        assert set(kinds) == {"build_error", "run_error", "timeout", "wrong_result"}
        assert kinds["build_error"].first_error == "error: bad split" and kinds["build_error"].where == "net"
        fn = next(m for m in data.models if m.name == "fn")
        assert {d.decision: round(d.ratio, 2) for d in fn.decisions} == {
            "opt:xla_cpu_prefer_vector_width": 1.2,  # the best without it: 3.6 ms against 3 ms
            "disable:call-inliner": pytest.approx(1.03, abs=0.01),
        }
        assert [d.decision.startswith("schedule: SamplePerfectTile") for d in net.decisions] == [True]
        assert data.changes == ["the first job in this database"]
        data2 = collect(db, later)
        text = "\n".join(data2.changes)
        assert "new models since job 1: broken (tvm)" in text
        assert "new compiler version: tvm 0.28.0" in text
        assert "REGRESSION: net (tvm) tuned 3.000 ms vs 2.500 ms in job 1 (+20.0%)" in text
        assert any(f.kind == "model failed" and "ImportError" in f.first_error for f in data2.failures)
        assert collect(db).job["id"] == later  # the latest job by default
        assert collect(db, models=["fn"]).job["id"] == job  # the latest job that tuned fn


def test_a_regression_is_against_the_models_own_last_measured_job(filled):
    """A nightly job in between that skipped the model (measured nothing of it) does not hide a
    regression: the next job compares with the model's own last end-to-end measurement."""
    path, job, later = filled
    with open_db(path) as db:
        net = db.model("net", "tvm")
        (last,) = db.job_model_measurements(later)
        tid = last["target_id"]
        skipped = db.start_job({})  # measured nothing
        db.add_job_model(skipped, "net", "tvm", tid, "skipped", 0, 0, 0.5, {"profile": PROFILE})
        db.finish_job(skipped, "done")
        third = db.start_job({})
        db.add_model_measurement(net["id"], tid, [3.6e-3] * 3, [4e-3] * 3, 1.1, job_id=third)
        db.finish_job(third, "done")
        assert db.model_measurement_before(net["id"], tid, third)["job_id"] == later
        assert db.model_measurement_before(net["id"], tid, job) is None
        changes = "\n".join(collect(db, third).changes)
    assert f"REGRESSION: net (tvm) tuned 3.600 ms vs 3.000 ms in job {later} (+20.0%)" in changes, changes


def test_report_files_are_self_contained_and_say_the_same(filled, tmp_path):
    path, job, _ = filled
    with open_db(path, readonly=True) as db:
        paths = write_report(db, tmp_path / "out", job_id=job)
    page, md = paths.html.read_text(), paths.markdown.read_text()
    assert {p.name for p in paths.plots} >= {"curves.png", "speedups.png", "time.png", "decisions.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths.plots)
    # Offline: no script, stylesheet or image from anywhere else.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) and "<script" not in page
    assert page.count('src="data:image/png;base64,') == len(paths.plots)
    for section in (
        "Speedups",
        "Tuning curves",
        "Where the time went",
        "Which decisions mattered",
        "Failures",
    ):
        assert f"<h2>{section}</h2>" in page and f"## {section}" in md
    for p in paths.plots:
        assert f"]({p.name})" in md
    assert "error: bad split" in md and "segfault in kernel" in page


def test_the_page_shows_its_plots_in_headless_chromium(filled, tmp_path):
    path, job, _ = filled
    with open_db(path, readonly=True) as db:
        paths = write_report(db, tmp_path / "out", job_id=job)
    seen = render(paths.html, tmp_path)
    images = seen["images"]
    assert len(images) == len(paths.plots) and seen["title"] == f"autotune job {job}"
    for img in images:  # decoded, with a real size, and laid out on the page
        assert img["complete"] and img["w"] > 200 and img["h"] > 100 and img["shownW"] > 200, img
    assert colored_fraction(seen["screenshot"]) > 0.005  # the plots' colours are on the screen


def test_cli_report_and_its_errors(filled, tmp_path):
    path, job, later = filled
    out = tmp_path / "cli"
    r = run_cli("report", "--db", str(path), "--out", str(out), "--job", str(job), "--json")
    assert r.returncode == 0, r.stderr
    assert (out / "report.html").is_file() and '"markdown"' in r.stdout
    for args, message in (
        (["--job", "99"], "no job 99"),
        (["--model", "nope"], "no job in this database tuned nope"),
        (["--job", str(later), "--model", "fn"], f"job {later} did not tune fn"),
    ):
        r = run_cli("report", "--db", str(path), "--out", str(out), *args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = run_cli("report", "--db", str(path), "--out", str(path))
    assert r.returncode == 2 and "not a folder" in r.stderr
    empty = tmp_path / "empty.sqlite"
    open_db(empty).close()
    r = run_cli("report", "--db", str(empty), "--out", str(out))
    assert r.returncode == 2 and "no job in this database yet" in r.stderr
    r = run_cli("report", "--db", str(tmp_path / "missing.sqlite"), "--out", str(out))
    assert r.returncode == 2 and "no such database" in r.stderr
