"""Ctrl-C stops a TVM tuning job where it is, even when the signal lands inside MetaSchedule
(which turns the KeyboardInterrupt raised in its callback into a RuntimeError of its own):
exit code 130, the job recorded as interrupted, the next model never started, and what was
measured kept."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, tune_count

pytestmark = pytest.mark.timeout(300)


def test_ctrl_c_stops_the_job_not_just_the_model(tmp_path):
    db = tmp_path / "tuning.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "autotune.cli.main", "tune", "--model", "op-dense-8x512x256",
            "--model", "op-dense-16x256x256", "--trials", "64", "--db", str(db), "--no-progress",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.time() + 200
    while time.time() < deadline and tune_count(db) < 2 and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the job ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    t0 = time.time()
    out, err = proc.communicate(timeout=120)
    # a str, shown whole (a tuple's repr is cut before a crash's frames)
    assert proc.returncode == 130, f"exit {proc.returncode}\n{out[-2000:]}\n{err[-6000:]}"
    assert time.time() - t0 < 60
    assert "autotune: interrupted" in err and "Traceback" not in err

    from autotune.db import open_db

    with open_db(db, readonly=True) as store:
        assert store.check() == []
        assert [j["status"] for j in store.jobs()] == ["interrupted"]
        assert store.model("op-dense-16x256x256", "tvm") is None  # the second model never began
        assert tune_count(db) >= 2  # what was measured stays
