"""A job fanned out over a local Ray cluster (127.0.0.1): each model a Ray task tuning into its
own SQLite shard, merged into the job's database; a worker killed mid-task."""

from __future__ import annotations

import glob
import json
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

from autotune.db import open_db
from tests.conftest import ROOT

pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def short_tmp():
    """A short TMPDIR: Ray's socket paths under it must stay within 107 bytes."""
    path = tempfile.mkdtemp(prefix="at-", dir="/tmp")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def _tune(tmp_path, *args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(tmp_path), RAY_AUTH_MODE="disabled")
    return subprocess.Popen(
        [sys.executable, "-m", "autotune.cli.main", "tune", "--backend", "xla", "--ray", "local", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _rows(path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _kill_when_committed(tmp_path, p: subprocess.Popen, shard_name: str, n: int = 3) -> set[str]:
    """SIGKILL the worker of a task once its shard holds `n` tuning outcomes; returns their uids."""
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        shards = glob.glob(str(tmp_path / "autotune-shards" / "*" / f"{shard_name}.sqlite"))
        pids = glob.glob(str(tmp_path / "autotune-shards" / "*" / f"{shard_name}.pid"))
        if shards and pids:
            try:
                uids = _rows(shards[0], "SELECT uid FROM measurements WHERE source='tune'")
            except sqlite3.OperationalError:
                uids = []
            if len(uids) >= n:
                os.kill(int(open(pids[0]).read()), signal.SIGKILL)
                return {u for (u,) in uids}
        time.sleep(0.2)
    return set()


def test_two_models_over_two_workers_one_killed_mid_task(short_tmp):
    """Two models, two Ray workers, one worker SIGKILLed after it committed 3 candidates: Ray
    retries its task, which resumes from its shard; everything lands in the job's database
    (the killed worker's commits included), under the one job; a re-run skips both models."""
    tmp_path = short_tmp
    db = tmp_path / "tuning.sqlite"
    args = ("--model", "mlp", "--model", "gpt-block", "--trials", "8", "--db", str(db), "--no-progress")
    p = _tune(tmp_path, *args)
    try:
        committed = _kill_when_committed(tmp_path, p, "xla-mlp")
        out, err = p.communicate(timeout=500)
    finally:
        if p.poll() is None:
            p.kill()
    assert committed, "the mlp task never committed 3 candidates"
    assert p.returncode == 0, err[-3000:]
    rows = {line.split()[0]: line.split()[2] for line in out.splitlines() if line.split()[1:2] == ["xla"]}
    assert rows == {"mlp": "tuned", "gpt-block": "tuned"}, out
    merged = {u for (u,) in _rows(db, "SELECT uid FROM measurements")}
    assert committed <= merged  # what the killed worker committed is in the job's database
    with open_db(db, readonly=True) as d:
        assert d.check() == []
        (job,) = d.jobs()  # the shards' jobs are the driver's job
        assert job["status"] == "done"
        assert sorted(r["model"] for r in d.job_models(job["id"])) == ["gpt-block", "mlp"]
        hosts = {h for (h,) in _rows(db, "SELECT DISTINCT host FROM measurements")}
        assert hosts == {d.host}, hosts  # measured by this job's workers, here: not "merged"
        for name in ("mlp", "gpt-block"):  # each finished its budget; its bests decide here
            model = d.model(name, "xla")
            ((w, _),) = model["workloads"]
            tid = d.latest_target(model["id"])
            assert d.tuned_trials(w["id"], tid) == 8 and d.count(w["id"], tid) >= 8
            assert d.confirmation(w["id"], tid) is not None
    p = _tune(tmp_path, *args)  # the same job again: everything is tuned, every task skips
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0 and out.count("skipped") == 2, out + err[-2000:]


def test_no_cluster_at_the_address_is_one_line(tmp_path, short_tmp):
    from ray._private.services import find_gcs_addresses

    # "auto" reads the address file of the last cluster started under TMPDIR (a fresh one
    # here), then falls back to any Ray cluster running on the machine (Ray's own rule): it
    # is checked only while none runs (the other test worker's clusters come and go).
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_TMPDIR")}
    env["TMPDIR"] = str(short_tmp)
    cases = [("127.0.0.1:1", "no Ray cluster answers there")]
    if not find_gcs_addresses():
        cases.append(("auto", "cannot reach a Ray cluster"))
    for address, says in cases:
        r = subprocess.run(
            [sys.executable, "-m", "autotune.cli.main", "tune", "--backend", "xla", "--model", "mlp"]
            + ["--ray", address, "--db", str(tmp_path / "x.sqlite")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "x.sqlite").exists()  # nothing written


def test_the_joint_searchs_graph_level_configs_run_as_ray_tasks(short_tmp):
    """A TVM model's graph-level configs, each a Ray task tuning into a shard of its own from a
    snapshot of the model's shard: both measured there, merged into the model's shard and then
    the job's database, each config's subgraphs recorded once, all under the one job."""
    from autotune import backends

    source = "tests/tvm/graph_models.py:conv_gelu"
    job = short_tmp / "job.toml"
    job.write_text(f'[job]\nbaselines = []\nlevels = ["graph"]\n[[models]]\nname = "{source}"\ntrials = 2\n')
    db = short_tmp / "g.sqlite"
    env = dict(os.environ, TMPDIR=str(short_tmp), RAY_AUTH_MODE="disabled")
    r = subprocess.run(
        [sys.executable, "-m", "autotune.cli.main", "tune", str(job), "--ray", "local"]
        + ["--db", str(db), "--no-progress"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "graph: 2 graph-level config(s) measured (" in r.stdout and "2 as parallel tasks" in r.stdout, (
        r.stdout
    )
    with open_db(db, readonly=True) as d:
        assert d.check() == []
        (job_row,) = d.jobs()
        ((tid, _),) = d.targets()
        (gw,) = d.workloads(compiler="tvm-graph", with_ir=False)
        tuned = [o for o in d.outcomes(gw["id"], tid) if o["source"] == "tune"]
        assert len({o["config"] for o in tuned}) == 2 and all(o["status"] == "ok" for o in tuned), tuned
        hosts = {h for (h,) in _rows(db, "SELECT DISTINCT host FROM measurements")}
        assert hosts == {d.host}, hosts
        kernels = d.workloads(compiler="tvm", with_ir=False)  # MetaSchedule searched nothing
        assert kernels and all(d.count(w["id"], tid, source="tune") == 0 for w in kernels)
        be = backends.get("tvm")
        with be.open(be.resolve_target("llvm"), d, None) as session:
            m = session.load(source, be.load_model(source))
            for o in tuned:  # every subgraph of each config recorded, its default measured once
                for w in session.workloads(m, json.loads(o["config"])):
                    wid = d.workload_id(w.fingerprint)
                    assert wid is not None and d.count(wid, tid, source="default") == 1, w.name
