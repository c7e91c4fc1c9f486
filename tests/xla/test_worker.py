"""The isolated XLA worker: numerics check, crashes and timeouts recorded, restart after death."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time

import pytest

from autotune.backends.xla.runner import IsolatedWorker, WorkerLoadError
from autotune.passes import xla_options

pytestmark = pytest.mark.timeout(300)

MODEL = textwrap.dedent(
    """
    import jax.numpy as jnp

    def transcendental():
        x = jnp.linspace(-3.0, 3.0, 1 << 14, dtype=jnp.float32)
        fn = lambda x: jnp.exp(x) / (1.0 + jnp.tanh(x) ** 2) + jnp.log1p(jnp.abs(x))
        return fn, (x,)

    def broken():
        return "not a model"
    """
)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "numerics.py"
    path.write_text(MODEL)
    return path


@pytest.fixture
def worker(model_file, tmp_path):
    w = IsolatedWorker(
        f"{model_file}:transcendental", "cpu", xla_options.available(), tmp_path / "ref.npz", timeout_s=60
    )
    yield w
    w.close()


def test_measure_checks_numerics_against_the_default(worker):
    ok = worker.request({"op": "measure", "config": {}, "repeat": 5})
    assert ok["status"] == "ok" and len(ok["samples"]) == 5 and all(s > 0 for s in ok["samples"])
    fast = {"opt:xla_cpu_enable_fast_math": True}
    # Fast math changes the last bits here: harmless under the one tolerance policy
    # (autotune.compare.mismatch, tested on its own in tests/test_compare.py).
    assert worker.request({"op": "measure", "config": fast, "repeat": 3})["status"] == "ok"
    # A comparison checks the outputs of both configs before timing them.
    both = worker.request({"op": "compare", "configs": [{}, fast], "rounds": 3})
    assert both["status"] == "ok" and [len(s) for s in both["samples"]] == [3, 3]


def test_a_config_xla_refuses_is_a_build_error(worker):
    r = worker.request({"op": "measure", "config": {"opt:xla_cpu_prefer_vector_width": 96}})
    assert r["status"] == "build_error" and "no choice" in r["error"]


def test_a_crashed_worker_is_a_failed_candidate_and_is_restarted(worker):
    pid = worker.proc.pid
    killer = threading.Timer(1.0, lambda: os.kill(pid, signal.SIGILL))
    killer.start()
    r = worker.request({"op": "compare", "configs": [{}, {}], "rounds": 100000})
    killer.join()
    assert r["status"] == "run_error" and "SIGILL during run" in r["error"]
    again = worker.request({"op": "measure", "config": {}, "repeat": 3})
    assert again["status"] == "ok" and worker.restarts == 1 and worker.proc.pid != pid


def test_a_candidate_past_its_timeout_is_killed(worker):
    t0 = time.monotonic()
    r = worker.request({"op": "compare", "configs": [{}, {}], "rounds": 100000}, timeout_s=2)
    assert r["status"] == "timeout" and time.monotonic() - t0 < 30
    assert worker.request({"op": "measure", "config": {}, "repeat": 3})["status"] == "ok"


def test_reference_outputs_survive_restarts(worker, tmp_path):
    """A restarted worker compares against the saved reference, not its own first run."""
    assert (tmp_path / "ref.npz").exists()
    worker.proc.kill()
    worker.proc.wait()
    assert worker.request({"op": "measure", "config": {}, "repeat": 2})["status"] == "ok"
    assert worker.restarts == 1


def test_a_model_that_does_not_load_is_one_error(model_file, tmp_path):
    with pytest.raises(WorkerLoadError, match="does not load"):
        IsolatedWorker(f"{model_file}:broken", "cpu", {}, tmp_path / "r.npz", timeout_s=60)
