"""A tuning job killed with SIGKILL keeps what it committed and, run again, finishes the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, run_cli, tune_count

pytestmark = pytest.mark.timeout(600)

TRIALS = 24


# 60 s; by default the same contract runs on XLA (tests/xla/test_tune_cli.py) and over Ray
# (tests/tuning/test_fanout.py)
@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    db = tmp_path / "tuning.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autotune.cli.main",
            "tune",
            "--model",
            "mlp",
            "--trials",
            str(TRIALS),
            "--db",
            str(db),
            "--no-progress",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and tune_count(db) < 8 and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the job ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    seen = tune_count(db)
    assert 8 <= seen < TRIALS

    from autotune.db import open_db

    with open_db(db, readonly=True) as store:
        assert store.check() == []
        assert store.stats()["measurements"] >= seen

    r = run_cli("tune", "--model", "mlp", "--trials", str(TRIALS), "--db", str(db), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    # The second run measured only what the first one had not: the budget is met exactly.
    assert tune_count(db) == TRIALS
    with open_db(db, readonly=True) as store:
        assert store.check() == []
        jobs = [j["status"] for j in store.jobs()]
        assert jobs[0] == "interrupted" and jobs[-1] == "done"  # the killed job never finished
