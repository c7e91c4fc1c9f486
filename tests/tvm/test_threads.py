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


def test_settle_waits_for_a_busy_thread_and_not_longer():
    import threading
    import time

    from autotune.backends.tvm.threads import settle

    assert settle() < 0.2, "nothing else runs: no wait"
    stop = time.perf_counter() + 0.5

    def spin() -> None:  # a pool's worker spinning after its last task
        while time.perf_counter() < stop:
            pass

    t = threading.Thread(target=spin)
    t.start()
    try:
        assert settle(max_s=0.05) < 0.2, "never longer than asked"
        waited = settle()
    finally:
        t.join()
    assert 0.2 < waited < 0.9, waited
