"""The parent side of the isolated XLA worker: requests with a timeout, crash recovery.

A worker that dies (a compiler abort kills it with SIGILL here) or overruns its timeout
is recorded as a failed candidate (build_error while compiling, run_error while running,
timeout) and a fresh worker is started for the next request. Start-up time is counted
separately so that tuning time can be broken down.

Example::

    with IsolatedWorker("mlp", "cpu", options, ref_path) as w:
        info = w.info
        r = w.request({"op": "measure", "config": {}})   # {"status": "ok", "samples": [...]}
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_ON_CRASH = {"compile": "build_error", "run": "run_error", "load": "run_error"}


class WorkerLoadError(RuntimeError):
    """The model itself cannot be loaded or compiled with XLA's defaults."""


class IsolatedWorker:
    """One worker process for one workload, restarted whenever it dies."""

    def __init__(
        self,
        source: str,
        platform: str,
        options: dict[str, Any],
        ref_path: str | os.PathLike,
        timeout_s: float = 120.0,
        log_path: str | os.PathLike | None = None,
    ) -> None:
        self.source, self.platform, self.options = source, platform, options
        self.ref_path, self.timeout_s = str(ref_path), timeout_s
        self.log_path = Path(log_path) if log_path else None
        self.proc: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}
        self.startup_s = 0.0  # wall time spent starting workers and loading the model
        self.restarts = 0
        self._buf = b""
        self._start()

    def __enter__(self) -> IsolatedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        t0 = time.perf_counter()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autotune.backends.xla.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )
        if log is not subprocess.DEVNULL:
            log.close()
        self._buf = b""
        load = {
            "op": "load",
            "source": self.source,
            "platform": self.platform,
            "options": self.options,
            "ref": self.ref_path,
        }
        reply = self._roundtrip(load, max(self.timeout_s, 300.0), phase="load")
        self.startup_s += time.perf_counter() - t0
        if not reply.get("ok"):
            self.close()
            raise WorkerLoadError(f"model {self.source!r} does not load in XLA: {reply.get('error', '')}")
        self.info = reply["info"]

    def request(self, msg: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """Send one request; a crash or timeout comes back as a failed outcome, never raises."""
        if self.proc is None or self.proc.poll() is not None:
            self.restarts += 1
            self._start()
        return self._roundtrip(msg, timeout_s or self.timeout_s, phase="compile")

    def _roundtrip(self, msg: dict[str, Any], timeout_s: float, phase: str) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._died(phase)
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                data = json.loads(line)
                if "phase" in data:
                    phase = data["phase"]
                elif "result" in data:
                    return data["result"]
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                return {"status": "timeout", "error": f"no result within {timeout_s:.0f} s ({phase})"}
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return self._died(phase)
                self._buf += chunk

    def _died(self, phase: str) -> dict[str, Any]:
        assert self.proc is not None
        code = self.proc.wait()
        self.proc = None
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return {
            "status": _ON_CRASH.get(phase, "run_error"),
            "error": f"worker died with {how} during {phase}",
        }

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        if self.proc is None:
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b'{"op": "quit"}\n')
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            self.proc.kill()
            self.proc.wait()
        self.proc = None
