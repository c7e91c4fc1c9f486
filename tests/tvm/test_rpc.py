"""Remote measurement through TVM's own RPC tracker, on 127.0.0.1 only: a real tracker and real
RPC servers (`python -m tvm.exec.rpc_tracker`, `python -m tvm.exec.rpc_server`) as processes.

A job measured over RPC records the device's target (never the host's row) and its results;
devices killed mid-job cost the run in flight (a run error that says the device was lost)
and the job goes on on one started again; a device that never comes back stops the model,
partial, with one line; a tracker that is not there or a key with no device is one line, rc 2.

The default run (about 1.5 minutes): the job keys, the one-line errors, and a job whose devices
are killed mid-job (which also checks what a clean job checks). `-m slow`: a clean job, and a
device that never comes back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, tune_count

pytestmark = pytest.mark.timeout(300)

HOST = "127.0.0.1"


def tiny():
    """The model tuned over RPC: one small fused dense + bias + ReLU (one subgraph)."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU()).eval(), (torch.randn(8, 64),)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """A TVM RPC process in a session of its own: killing its group kills its workers too."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _free(port: int, key: str) -> int:
    from autotune.backends.tvm.remote import Tracker

    try:
        with Tracker(HOST, port, timeout_s=5) as tracker:
            return tracker.free(key)
    except (OSError, ValueError, RuntimeError):
        return 0


class Rpc:
    """A tracker on a free loopback port, and RPC servers that join it under a key."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.procs, self.logs = folder, [], []
        self.port = _free_port()
        ports = ["--port", str(self.port), "--port-end", str(self.port + 1)]
        self.tracker = _start(["tvm.exec.rpc_tracker", "--host", HOST, *ports], folder / "tracker.log")
        from autotune.backends.tvm.remote import Tracker

        until = time.time() + 60
        while True:
            try:
                Tracker(HOST, self.port, timeout_s=5).close()
                break
            except (OSError, ValueError):
                assert self.tracker.poll() is None and time.time() < until, "the tracker did not start"
                time.sleep(0.2)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def servers(self, key: str, n: int, wait: bool = True) -> list[subprocess.Popen]:
        """`n` servers of `key`, once the tracker offers them all (`wait`)."""
        started = []
        for _ in range(n):
            port = _free_port()
            log = self.folder / f"server-{len(self.logs)}.log"
            args = ["--tracker", self.address, "--key", key, "--host", HOST, "--port", str(port)]
            proc = _start(["tvm.exec.rpc_server", *args, "--port-end", str(port + 1)], log)
            self.procs.append(proc)
            self.logs.append(log)
            started.append(proc)
        until = time.time() + 90
        while wait and _free(self.port, key) < n:
            assert time.time() < until, "the RPC servers did not join the tracker"
            assert all(p.poll() is None for p in [self.tracker, *started]), "an RPC process died"
            time.sleep(0.2)
        return started

    def sessions(self) -> int:
        """Sessions the servers started so far (their logs)."""
        return sum(log.read_text().count("connected from") for log in self.logs if log.exists())

    def close(self) -> None:
        for proc in [*self.procs, self.tracker]:
            _kill(proc)


@pytest.fixture(scope="module")
def rpc(tmp_path_factory):
    r = Rpc(tmp_path_factory.mktemp("rpc"))
    try:
        yield r
    finally:
        r.close()


def _job(path: Path, rpc: Rpc, key: str, trials: int, budget_s: float = 300) -> Path:
    path.write_text(
        f"""[job]
trials = {trials}
trials_per_iter = 4
cost_model = "none"
time_budget_s = {budget_s}
tracker = "{rpc.address}"
device_key = "{key}"

[[models]]
name = "tiny"
source = "tests.tvm.test_rpc:tiny"
"""
    )
    return path


def _tune(job: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "autotune.cli.main", "tune", str(job), "--db", str(db), "--no-progress"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _rows(db: Path) -> list[dict]:
    """Every measurement of the (one) tuned workload on the (one) target."""
    from autotune.db import open_db

    with open_db(db, readonly=True) as store:
        ((tid, _),) = store.targets()
        model = store.model("tiny")
        return [o for w, _ in model["workloads"] for o in store.outcomes(w["id"], tid)]


def test_tracker_and_device_key_are_checked_before_any_work():
    from autotune.cli.main import build_parser
    from autotune.cli.tune import build_spec
    from autotune.errors import UserError
    from autotune.tuning.jobfile import parse_job

    tvm_model, xla_model = {"name": "mlp"}, {"name": "gpt-block", "backend": "xla"}
    ok = {"tracker": "127.0.0.1:9190", "device_key": "rasp4"}
    spec = parse_job({"job": ok, "models": [tvm_model]}, "j.toml")
    assert (spec.remote("tvm").address, spec.remote("tvm").key) == ("127.0.0.1:9190", "rasp4")
    assert parse_job({"job": {}, "models": [tvm_model]}, "j.toml").remote("tvm") is None
    for job, models, says in (
        ({"tracker": "127.0.0.1:9190"}, [tvm_model], "j.toml: [job] tracker: needs device_key too"),
        ({"device_key": "rasp4"}, [tvm_model], "j.toml: [job] device_key: needs tracker (TVM"),
        (ok | {"tracker": "127.0.0.1"}, [tvm_model], 'j.toml: [job] tracker: expected "HOST:PORT"'),
        (ok | {"tracker": "h:99999"}, [tvm_model], 'j.toml: [job] tracker: expected "HOST:PORT"'),
        (ok | {"device_key": ""}, [tvm_model], "j.toml: [job] device_key: expected a key"),
        (ok, [tvm_model, xla_model], "j.toml: [job] device_key: model 'gpt-block' (xla) measures on remote"),
        ({"ray": "h:1", "device_key": "k"}, [tvm_model], "j.toml: [job] device_key: model 'mlp' (tvm)"),
        ({"ray": ""}, [tvm_model], 'j.toml: [job] ray: expected "auto", "local" or a cluster'),
    ):
        with pytest.raises(UserError) as err:
            parse_job({"job": job, "models": models}, "j.toml")
        assert str(err.value).startswith(says), err.value
    parser = build_parser()
    for argv, says in (
        (["--tracker", "localhost", "--device-key", "k"], '--tracker: expected "HOST:PORT"'),
        (["--device-key", "k"], "--device-key: needs --tracker (TVM"),
        (["--tracker", "127.0.0.1:9190", "--device-key", "k", "--backend", "xla"], "--device-key: model"),
    ):
        with pytest.raises(UserError) as err:
            build_spec(parser.parse_args(["tune", "--model", "gpt-block", *argv]))
        assert str(err.value).startswith(says), err.value
    mixed = parse_job({"job": ok | {"ray": "h:2"}, "models": [tvm_model, xla_model]}, "j.toml")
    assert mixed.remote("tvm").address == "127.0.0.1:9190"  # each backend through its own engine
    assert (mixed.remote("xla").address, mixed.remote("xla").key) == ("h:2", "rasp4")
    spec = build_spec(parser.parse_args(["tune", "--model", "mlp", *"--tracker h:1 --device-key k".split()]))
    assert (spec.tracker, spec.device_key) == ("h:1", "k")


def test_unreachable_tracker_or_unknown_key_is_one_line(rpc, tmp_path):
    nobody = f"{HOST}:{_free_port()}"
    for tracker, key, says in (
        (nobody, "dev-c", f"tracker {nobody}: cannot connect"),
        (rpc.address, "no-such-key", "no device with key 'no-such-key'"),
    ):
        db = tmp_path / "t.sqlite"
        r = run_cli("tune", "--model", "mlp", "--tracker", tracker, "--device-key", key, "--db", str(db))
        assert r.returncode == 2, r.stderr[-2000:]
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], r.stderr
        assert not db.exists()  # before any work


def test_a_key_no_server_has_fails_in_seconds(rpc):
    """A mistyped key fails after a short grace (a server may be registering right now), not
    after the wait for a key whose devices are all busy."""
    from autotune.backends.base import Remote
    from autotune.backends.tvm.remote import FIND_WAIT_S, UNKNOWN_KEY_WAIT_S, describe_device
    from autotune.errors import UserError

    host, port = rpc.address.rsplit(":", 1)
    t0 = time.monotonic()
    with pytest.raises(UserError, match="no device with key 'no-such-key' within 2 s"):
        describe_device(Remote(host, int(port), "no-such-key"))
    assert UNKNOWN_KEY_WAIT_S <= time.monotonic() - t0 < FIND_WAIT_S / 2


def _device_recorded(db: Path, key: str, stderr: str) -> None:
    """What a job measured over RPC leaves: the device's own target row, never the host's (and
    the one the compile-time loader finds for the device's target), an end-to-end measurement,
    no baselines, and a job that said where it measured; `autotune best` reads it."""
    import tvm

    from autotune import backends
    from autotune.db import open_db

    assert f"measuring on device {key!r}" in stderr and "baselines skipped" in stderr, stderr
    be = backends.get("tvm")
    host = be.describe(be.resolve_target("llvm"))
    with open_db(db, readonly=True) as store:
        assert store.check() == []
        ((tid, info),) = store.targets()
        assert info.key != host.key and info.device_model != host.device_model
        assert f"rpc:{key}" in info.device_model and info.target_json["model"] == f"rpc:{key}"
        assert be.describe(be.resolve_target(tvm.target.Target(info.target_json))).key == info.key
        model = store.model("tiny")
        assert store.latest_model_measurement(model["id"], tid) is not None
        assert store.baselines(model["id"], tid) == {}  # PyTorch cannot run on a TVM RPC server
    assert [o["status"] for o in _rows(db) if o["source"] == "default"] == ["ok"]
    best = run_cli("best", "tiny", "--db", str(db))
    assert best.returncode == 0, best.stderr
    assert f"rpc:{key}" in best.stdout and "fused_matmul_add_relu" in best.stdout


@pytest.mark.slow
def test_a_job_measured_over_rpc_records_the_device(rpc, tmp_path):
    rpc.servers("dev-a", 2)
    db = tmp_path / "a.sqlite"
    r = run_cli(
        "tune", str(_job(tmp_path / "a.toml", rpc, "dev-a", trials=4)), "--db", str(db), "--no-progress"
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "tuned" in r.stdout, r.stdout
    assert [o["status"] for o in _rows(db) if o["source"] == "tune"] == ["ok"] * 4
    _device_recorded(db, "dev-a", r.stderr)


def test_devices_killed_mid_job_cost_the_run_in_flight(rpc, tmp_path):
    """Both devices die while a candidate runs; one comes back; the job finishes."""
    first = rpc.servers("dev-b", 2)
    db = tmp_path / "b.sqlite"
    proc = _tune(_job(tmp_path / "b.toml", rpc, "dev-b", trials=8), db)
    try:
        until = time.time() + 180
        while tune_count(db) < 4:  # the first batch is committed
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() < until, "no candidate was committed"
            time.sleep(0.1)
        committed = tune_count(db)
        seen = rpc.sessions()
        while rpc.sessions() == seen:  # the next candidate's session has started: kill
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() < until, "no further run started"
            time.sleep(0.01)
        for p in first:
            _kill(p)
        time.sleep(1.0)
        rpc.servers("dev-b", 1, wait=False)  # the job takes it as soon as it joins
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "tuned" in out, out + err
    rows = _rows(db)
    tune = [o for o in rows if o["source"] == "tune"]
    lost = [o for o in tune if o["status"] == "run_error"]
    assert lost and all("device lost" in o["error"] and "dev-b" in o["error"] for o in lost), tune
    assert len(lost) <= 2  # the run in flight (and at most one racing it), not the rest
    assert len(tune) == 8 and sum(o["status"] == "ok" for o in tune) >= committed
    _device_recorded(db, "dev-b", err)


@pytest.mark.slow
def test_a_device_that_never_comes_back_stops_the_model_in_its_budget(rpc, tmp_path):
    first = rpc.servers("dev-d", 1)
    db = tmp_path / "d.sqlite"
    budget = 75.0
    started = time.time()
    proc = _tune(_job(tmp_path / "d.toml", rpc, "dev-d", trials=64, budget_s=budget), db)
    try:
        while tune_count(db) < 4:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() < started + budget, "no candidate was committed in time"
            time.sleep(0.1)
        committed = tune_count(db)
        _kill(first[0])
        out, err = proc.communicate(timeout=budget + 120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "partial" in out and "went away and none came back before the job's deadline" in out, out
    lines = [ln for ln in err.splitlines() if "none came back" in ln]
    assert len(lines) == 1 and lines[0].startswith("autotune: tiny: "), err
    assert time.time() - started < budget + 60  # stopped at its deadline, not long after
    assert tune_count(db) >= committed
    from autotune.db import open_db

    with open_db(db, readonly=True) as store:
        assert store.check() == []
        assert [j["status"] for j in store.jobs()] == ["done"]
