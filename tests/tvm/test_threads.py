"""Where TVM's idle workers spin: not in the runner's workers that time candidates, as TVM
has it (spinning) in the job's process, which times the model as the loader runs it."""

from __future__ import annotations

import os

from autotune.backends.tvm.threads import SPIN_ENV


def test_runner_workers_sleep_when_idle_and_the_job_process_keeps_tvms_default(tmp_path, monkeypatch):
    from autotune import backends
    from autotune.backends.tvm.workload import resolve_target
    from autotune.db import open_db

    monkeypatch.delenv(SPIN_ENV, raising=False)
    be = backends.get("tvm")
    with open_db(tmp_path / "t.sqlite") as db:
        session = be.open(resolve_target("llvm"), db, None)
        try:
            assert os.environ.get(SPIN_ENV) is None, "the job's process spins as deployed"
            for runner in (session.runner, session.probe):
                assert runner.pool.submit(os.getenv, SPIN_ENV).result() == "0"
        finally:
            session.close()


def _spinning(seconds: float, native: bool):
    """A thread busy for `seconds`, as a pool's worker spinning after its last task: in
    native code without the GIL (`native`, as TVM's and OpenMP's spin; hashlib lets go of
    it over large buffers), or in Python, holding it (its CPU use shows even when this
    machine's other work keeps it waiting for a core)."""
    import hashlib
    import threading
    import time

    stop = time.perf_counter() + seconds
    block = bytes(1 << 20)

    def spin() -> None:
        while time.perf_counter() < stop:
            if native:
                hashlib.sha256(block)

    t = threading.Thread(target=spin)
    t.start()
    return t


def test_settle_waits_for_a_busy_thread():
    from autotune.backends.tvm.threads import settle

    assert settle() < 0.2, "nothing else runs: no wait"
    t = _spinning(0.5, native=False)
    try:
        waited = settle()
    finally:
        t.join()
    assert 0.2 < waited < 0.9, waited


def test_settle_waits_no_longer_than_asked():
    from autotune.backends.tvm.threads import settle

    # Native: a Python thread holding the GIL would hold up this one too, which is not
    # `settle`'s doing (0.33 s for a 0.05 s limit once in CI, the other test worker busy).
    t = _spinning(0.5, native=True)
    try:
        assert settle(max_s=0.05) < 0.2
    finally:
        t.join()
