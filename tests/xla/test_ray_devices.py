"""XLA candidates measured on the devices of a Ray cluster (127.0.0.1): a node that offers the
Ray resource of the device key runs the model's isolated worker; the worker's actor killed
mid-job costs only its candidate in flight."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(600)

KEY = "xla-box"


def _env(tmp: Path) -> dict[str, str]:
    return dict(os.environ, TMPDIR=str(tmp), RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")


def _processes_of(tmp: Path) -> list[int]:
    """The processes started for this test's cluster (Ray's daemons, its workers, the jobs):
    those whose environment has its TMPDIR. Ray renames its workers ('ray::IDLE'), so their
    command lines do not say; `ray stop --force` would also stop every other Ray on the
    machine, such as another test process's."""
    mark = f"TMPDIR={tmp}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours
            pass
    return pids


def _stop_cluster(tmp: Path) -> None:
    """SIGKILL this test's Ray processes, and only those; wait (10 s at most) until they are gone."""
    until = time.time() + 10
    while (pids := _processes_of(tmp)) and time.time() < until:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster():
    """A one-node Ray cluster on 127.0.0.1 whose node offers one unit of KEY: (address, tmp)."""
    tmp = Path(tempfile.mkdtemp(prefix="at-", dir="/tmp"))  # Ray's socket paths stay short
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    port = 6400 + os.getpid() % 500
    start = [*ray, "start", "--head", "--node-ip-address", "127.0.0.1", f"--port={port}", "--num-cpus=2"]
    start += [f'--resources={{"{KEY}": 1}}', "--include-dashboard=false", f"--temp-dir={tmp / 'ray'}"]
    subprocess.run(start, env=_env(tmp), check=True, capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}", tmp
    finally:
        _stop_cluster(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def _tune(tmp: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "autotune.cli.main", "tune", "--backend", "xla", "--no-progress", *args],
        cwd=ROOT,
        env=_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _actor_pids(tmp: Path) -> list[int]:
    """The processes of the model's worker actors in this test's cluster (Ray titles them
    'ray::_Host...')."""
    out = subprocess.run(["pgrep", "-f", "ray::_Host"], capture_output=True, text=True).stdout
    mine = set(_processes_of(tmp))
    return [int(p) for p in out.split() if int(p) in mine]


def _kill_actor_mid_job(tmp: Path, p: subprocess.Popen, n: int = 3) -> bool:
    """SIGKILL the worker's actor once the task's shard holds `n` tuning outcomes."""
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        for shard in (tmp / "autotune-shards").glob("*/*.sqlite"):
            try:
                done = _rows(shard, "SELECT count(*) FROM measurements WHERE source='tune'")[0][0]
            except sqlite3.OperationalError:
                done = 0
            pids = _actor_pids(tmp)
            if done >= n and pids:
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                return True
        time.sleep(0.2)
    return False


def test_measured_on_the_node_that_offers_the_key_actor_killed_mid_job(cluster):
    """The job's XLA model measured by an actor on the node of the key; the actor SIGKILLed
    after 3 candidates: the candidate in flight is a run error that says 'device lost', a new
    actor takes over, the job measures every trial; the records are the device's target's."""
    address, tmp = cluster
    db = tmp / "tuning.sqlite"
    p = _tune(tmp, "--model", "mlp", "--trials", "10", "--db", str(db), "--ray", address, "--device-key", KEY)
    killed = _kill_actor_mid_job(tmp, p)
    out, err = p.communicate(timeout=540)
    assert killed, err[-2000:]
    assert p.returncode == 0, err[-3000:]
    rows = _rows(db, "SELECT status, error FROM measurements WHERE source='tune'")
    lost = [e for s, e in rows if s == "run_error" and e and e.startswith("device lost")]
    assert len(lost) == 1, rows
    assert len(rows) == 10, rows  # every trial measured, the lost one among them
    (model,) = _rows(db, "SELECT device_model FROM targets")
    from autotune.backends.xla.workload import target_info

    assert model[0] == target_info("cpu").device_model  # the node's own description
    assert "mlp" in out and "tuned" in out, out


def test_no_node_offers_the_key(cluster):
    """A key no node offers is one line and exit code 2, before any database is written."""
    address, tmp = cluster
    db = tmp / "none.sqlite"
    p = _tune(
        tmp, "--model", "mlp", "--trials", "2", "--db", str(db), "--ray", address, "--device-key", "nope"
    )
    out, err = p.communicate(timeout=300)
    assert p.returncode == 2, err[-2000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("autotune:")]
    assert len(lines) == 1 and "no node of the Ray cluster" in lines[0] and "'nope'" in lines[0], err
    assert "Traceback" not in err
    assert not db.exists()


def test_a_device_key_needs_the_engine_of_the_backend(tmp_path):
    """XLA measures on remote devices through Ray: a device key with only a tracker is one line."""
    p = _tune(tmp_path, "--model", "mlp", "--tracker", "127.0.0.1:9", "--device-key", KEY)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2
    assert err.strip().splitlines()[-1] == (
        "autotune: error: --device-key: model 'mlp' (xla) measures on remote devices through a Ray cluster: "
        "needs --ray too"
    )


@pytest.mark.slow
def test_a_device_that_never_comes_back_stops_the_model_within_the_budget():
    """The only node that offers the key goes away for good mid-job: the candidate in flight is
    'device lost', the model stops partial with one line before the job's deadline, and what was
    committed stays in the job's database."""
    tmp = Path(tempfile.mkdtemp(prefix="at-", dir="/tmp"))
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    port = 6900 + os.getpid() % 500
    head = [*ray, "start", "--head", "--node-ip-address", "127.0.0.1", f"--port={port}", "--num-cpus=1"]
    head += ["--include-dashboard=false", f"--temp-dir={tmp / 'ray'}"]
    subprocess.run(head, env=_env(tmp), check=True, capture_output=True, timeout=180)
    node = subprocess.Popen(  # the device's node, in a process group of its own (killed whole)
        [
            *ray,
            "start",
            "--block",
            f"--address=127.0.0.1:{port}",
            "--num-cpus=1",
            "--node-ip-address=127.0.0.1",
        ]
        + ['--resources={"xla-gone": 1}'],
        env=_env(tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        db = tmp / "gone.sqlite"
        budget = 150
        args = ("--model", "mlp", "--trials", "40", "--time-budget", str(budget), "--db", str(db))
        t0 = time.time()
        p = _tune(tmp, *args, "--ray", f"127.0.0.1:{port}", "--device-key", "xla-gone")
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None:
            shards = list((tmp / "autotune-shards").glob("*/*.sqlite"))
            done = 0
            if shards:
                try:
                    done = _rows(shards[0], "SELECT count(*) FROM measurements WHERE source='tune'")[0][0]
                except sqlite3.OperationalError:
                    pass
            if done >= 2:
                os.killpg(node.pid, signal.SIGKILL)
                break
            time.sleep(0.2)
        out, err = p.communicate(timeout=budget + 120)
        took = time.time() - t0
        assert p.returncode == 0, err[-3000:]
        assert took < budget + 60, took  # within the job's budget (and Ray's start and stop)
        assert "partial" in out and "within the job's clock" in out, out
        rows = _rows(db, "SELECT status, error FROM measurements WHERE source='tune'")
        assert len(rows) >= 2 and any(e and e.startswith("device lost") for _, e in rows), rows
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
        _stop_cluster(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
