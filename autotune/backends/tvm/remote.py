"""Measuring on a remote device through TVM's own RPC tracker.

Devices join a tracker (`python -m tvm.exec.rpc_tracker`) with `python -m tvm.exec.rpc_server
--tracker HOST:PORT --key KEY`. A job with a tracker and a key builds every candidate here,
for the device's target, and runs everything that is timed or checked on the device:

- `describe_device` opens one session and asks the device's TVM runtime for its CPU, triple,
  CPU features and thread count (`target.llvm_get_system_cpu`, `..._triple`,
  `tvm.codegen.llvm.GetHostCPUFeatures`, `runtime.NumThreads`), from which
  `workload.resolve_target` makes the device's target; a tracker that does not answer or a
  key with no free device is one `UserError` line, before any work.
- `RemoteDevice.runner` is MetaSchedule's `RPCRunner` (the candidates, and the defaults'
  runs), behind a runner of ours that waits for a free device before each run and says
  "device lost" when a run's session ended under it (its server died, or the connection
  dropped; a candidate that crashes the server ends it too: TVM 0.27's server then exits).
- `RemoteDevice.call(fn)` runs `fn(place)` in one RPC session (`Place`: modules uploaded and
  loaded there, tensors on `sess.cpu()`): the default's timing on safe inputs, confirmations
  with their output checks, the checks of warm starts, the end-to-end VM runs.

A device that goes away costs the run in flight (recorded as a run error that says so); the
next run waits for a device of the key to be free again, until the session's deadline (the
job's), and then raises `DeviceLost`: the model stops, the job goes on. No session is held
between runs, so one device is enough.

Every wait is bounded: `tvm.rpc`'s own tracker client retries a refused connection for 60 s
and waits for a device without end, so the tracker is spoken to here with a socket timeout
(`Tracker`, the same messages as `tvm.rpc.TrackerSession`).

Example::

    remote = Remote("127.0.0.1", 9190, "rasp4")
    info = describe_device(remote)                 # DeviceInfo(cpu='cortex-a72', threads=4, ...)
    device = RemoteDevice(remote)
    runner = device.runner(timeout_s=30, evaluator=ms.runner.EvaluatorConfig(repeat=3))
    outs = device.call(lambda place: measure.run_func(place.load(ex), args, dev=place.dev), "check")
"""

from __future__ import annotations

import gc
import os
import re
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.runner import PyRunner, PyRunnerFuture, RunnerInput, RunnerResult

from autotune.backends.base import DeviceLost, Remote
from autotune.backends.tvm.workload import DeviceInfo
from autotune.errors import UserError, first_line, last_line

T = TypeVar("T")

#: Connecting to the tracker and each of its replies, seconds.
TRACKER_TIMEOUT_S = 10.0
#: How long finding the device (before any work) waits for a free one of the key.
FIND_WAIT_S = 10.0
#: ... and for a key no server of the tracker has (a typo, or a server still registering).
UNKNOWN_KEY_WAIT_S = 2.0
#: A session request once a device is free: the longest the tracker may take to hand it over.
REQUEST_WAIT_S = 30.0
#: Between two looks at the tracker while waiting for a device: at first (a server takes a
#: moment to offer itself again after each session), and once the wait is a long one.
QUICK_POLL_S, POLL_S = 0.05, 1.0
#: A wait longer than this is said on stderr (a device that went away, or is busy elsewhere).
GRACE_S = 3.0
#: How long a wait for a device lasts when the session has no deadline.
NO_DEADLINE_WAIT_S = 600.0
#: The server ends one of our own sessions (confirmations, end to end) after this long.
CALL_SESSION_S = 600
#: What the last line of an error says when its RPC session ended under it (server gone,
#: connection dropped), not when the kernel failed; a session the server ended for running
#: over its time says 'timeout' instead, and is a timeout.
_LOST = (
    "kShutdown",
    "RPCCode::kReturn",
    "SockChannel",
    "Connection refused",
    "Connection reset",
    "Broken pipe",
    "ConnectionError",
    "no free device",
)


def is_lost(error: str) -> bool:
    """Whether an error (a run's, or an exception's text) says the RPC session died under it."""
    last = last_line(error)
    return "timeout" not in last.lower() and any(m in last for m in _LOST)


class Tracker:
    """One connection to a tracker, every wait bounded (`tvm.rpc.TrackerSession`'s messages)."""

    def __init__(self, host: str, port: int, timeout_s: float = TRACKER_TIMEOUT_S) -> None:
        from tvm.rpc import base

        self.timeout_s = timeout_s
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        try:
            self.sock.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
            magic = struct.unpack("<i", base.recvall(self.sock, 4))[0]
        except (OSError, RuntimeError) as exc:
            self.close()
            raise ValueError(f"{host}:{port} is not a TVM RPC tracker ({first_line(exc)})") from None
        if magic != base.RPC_TRACKER_MAGIC:
            self.close()
            raise ValueError(f"{host}:{port} is not a TVM RPC tracker")

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def summary(self) -> dict[str, Any]:
        from tvm.rpc import base

        base.sendjson(self.sock, [base.TrackerCode.SUMMARY])
        value = base.recvjson(self.sock)
        if value[0] != base.TrackerCode.SUCCESS:
            raise RuntimeError(f"tracker: unexpected reply {value!r}"[:200])
        return value[1]

    def free(self, key: str) -> int:
        """Devices of `key` free now."""
        return _free(self.summary(), key)

    def request(self, key: str, wait_s: float, ends_after: float) -> Any:
        """An RPC session on a device of `key`, handed over within `wait_s` seconds; the server
        ends it after `ends_after` seconds (0: never)."""
        from tvm import rpc
        from tvm.rpc import base

        self.sock.settimeout(wait_s)
        base.sendjson(self.sock, [base.TrackerCode.REQUEST, key, "", 1])
        try:
            value = base.recvjson(self.sock)
        except TimeoutError:
            raise RuntimeError(f"no free device {key!r} was handed over within {wait_s:g} s") from None
        finally:
            self.sock.settimeout(self.timeout_s)
        if value[0] != base.TrackerCode.SUCCESS:
            raise RuntimeError(f"tracker: unexpected reply {value!r}"[:200])
        url, port, matchkey = value[1]
        return rpc.connect(url, port, matchkey, ends_after)


def _tracker(remote: Remote) -> Tracker:
    """A connection to the job's tracker; UserError (one line) when there is none there."""
    try:
        return Tracker(remote.host, remote.port)
    except OSError as exc:
        raise UserError(
            f"tracker {remote.address}: cannot connect ({exc.strerror or first_line(exc)})"
        ) from None
    except ValueError as exc:
        raise UserError(f"tracker {remote.address}: {exc}") from None


def describe_device(remote: Remote, wait_s: float = FIND_WAIT_S) -> DeviceInfo:
    """Ask a device of `remote` what it is, through one session; UserError when the tracker
    does not answer or no device of the key is free within `wait_s` seconds (a key that no
    server of the tracker has: within `UNKNOWN_KEY_WAIT_S`)."""
    with _tracker(remote) as tracker:
        start = time.time()
        try:
            while _free(summary := tracker.summary(), remote.key) == 0:
                waited = time.time() - start
                if waited >= wait_s or (waited >= UNKNOWN_KEY_WAIT_S and not _has_key(summary, remote.key)):
                    raise UserError(_no_device(remote, summary, round(waited)))
                time.sleep(QUICK_POLL_S if waited < UNKNOWN_KEY_WAIT_S else POLL_S)
            sess = tracker.request(remote.key, wait_s, CALL_SESSION_S)
        except (OSError, RuntimeError) as exc:
            raise UserError(f"tracker {remote.address}: device {remote.key!r}: {first_line(exc)}") from None
    try:
        return _ask(sess, remote.key)
    finally:
        del sess
        gc.collect()  # the session ends with its last reference: the device is free again


def _free(summary: dict[str, Any], key: str) -> int:
    """Devices of `key` free, by a tracker's summary."""
    return int((summary.get("queue_info") or {}).get(key, {}).get("free", 0))


def _server_keys(summary: dict[str, Any]) -> list[str]:
    """The device keys of the servers registered with a tracker (its summary)."""
    return sorted({str(s.get("key", "")).split(":", 1)[-1] for s in summary.get("server_info", [])})


def _has_key(summary: dict[str, Any], key: str) -> bool:
    """Whether a server of the tracker offers `key`, free or busy."""
    return key in _server_keys(summary) or key in (summary.get("queue_info") or {})


def _no_device(remote: Remote, summary: dict[str, Any], wait_s: float) -> str:
    keys = _server_keys(summary)
    if remote.key in keys:
        return f"tracker {remote.address}: every device {remote.key!r} stayed busy for {wait_s:g} s"
    there = ", ".join(repr(k) for k in keys) or "none"
    return (
        f"tracker {remote.address}: no device with key {remote.key!r} within {wait_s:g} s "
        f"(keys there: {there})"
    )


def _ask(sess: Any, key: str) -> DeviceInfo:
    """The device's own description, by its TVM runtime's global functions (None where its
    runtime has no such function, e.g. a runtime built without LLVM)."""

    def call(name: str, *args: Any) -> Any:
        try:
            return sess.get_function(name)(*args)
        except Exception:  # RPCError: no such function in the device's runtime
            return None

    cpu, triple, threads = (
        call(n) for n in ("target.llvm_get_system_cpu", "target.llvm_get_system_triple", "runtime.NumThreads")
    )
    features: tuple[str, ...] = ()
    found = call("tvm.codegen.llvm.GetHostCPUFeatures")  # a Map on the device: read its printout
    text = call("ffi.ReprPrint", found) if found is not None else None
    if text is not None:
        features = tuple(sorted(re.findall(r'"([^"]+)": T\.bool\(True\)', str(text))))
    return DeviceInfo(
        key=key,
        cpu=str(cpu) if cpu else None,
        triple=str(triple) if triple else None,
        threads=int(threads) if threads else None,
        features=features,
    )


class Place:
    """Where one remote operation's kernels run: an RPC session, its device `dev`; executables
    built here are exported as tar files, uploaded and loaded (linked) there."""

    def __init__(self, sess: Any) -> None:
        self.sess = sess
        self.dev = sess.cpu()
        self._dir = tempfile.TemporaryDirectory(prefix="autotune-rpc-")
        self._n = 0

    def load(self, executable: Any) -> Any:
        from tvm.support.tar import tar

        self._n += 1
        name = f"lib{self._n}.tar"
        path = os.path.join(self._dir.name, name)
        executable.export_library(path, fcompile=tar)
        self.sess.upload(path, name)
        return self.sess.load_module(name)

    def close(self) -> None:
        self._dir.cleanup()
        self.sess = self.dev = None
        gc.collect()  # remote tensors and modules hold the session: gone, the device is free


class RemoteDevice:
    """The devices of one key on one tracker, as a session measures on them: waits for a free
    one (until `deadline`), runs candidates (`runner`) and our own operations (`call`)."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.deadline: float | None = None
        self.lost: DeviceLost | None = None  # set when a wait gave up; cleared when one is back

    def free(self) -> int:
        """Devices of the key free now (0 when the tracker does not answer either)."""
        try:
            with Tracker(self.remote.host, self.remote.port) as tracker:
                return tracker.free(self.remote.key)
        except (OSError, RuntimeError, ValueError):
            return 0

    def wait(self) -> None:
        """Return once a device of the key is free; DeviceLost when none is before `deadline`.
        A wait of over `GRACE_S` is said on stderr, and so is its end."""
        start = time.time()
        until = self.deadline if self.deadline is not None else start + NO_DEADLINE_WAIT_S
        name = f"device {self.remote.key!r} of the tracker at {self.remote.address}"
        said = False
        while True:
            if self.free():
                if said:
                    print(f"autotune: {name} is back: measuring again", file=sys.stderr)
                self.lost = None
                return
            now = time.time()
            if now >= until:
                break
            if now - start >= GRACE_S and not said:
                print(
                    f"autotune: no free {name}: waiting for one, at most {until - now:.0f} s "
                    "(the job's deadline)",
                    file=sys.stderr,
                )
                said = True
            time.sleep(min(QUICK_POLL_S if now - start < GRACE_S else POLL_S, until - now))
        self.lost = DeviceLost(
            f"{name} went away and none came back before the job's deadline: stopped here, "
            "what was measured is kept"
        )
        raise self.lost

    def session(self, session_timeout: float = CALL_SESSION_S) -> Any:
        """An RPC session on a free device (waiting for one; DeviceLost past the deadline)."""
        while True:
            self.wait()
            try:
                with Tracker(self.remote.host, self.remote.port) as tracker:
                    return tracker.request(self.remote.key, REQUEST_WAIT_S, session_timeout)
            except (OSError, RuntimeError, ValueError):  # taken or gone in between: wait again
                time.sleep(POLL_S)

    def call(self, fn: Callable[[Place], T], what: str = "a measurement") -> T:
        """`fn(place)` in one session on a device. When that session dies under it, once more
        on a device that is free (after waiting for one); DeviceLost when it dies again."""
        last: Exception | None = None
        for _ in range(2):
            place = Place(self.session())
            try:
                return fn(place)
            except Exception as exc:
                if not is_lost(str(exc)):
                    raise
                last = exc
            finally:
                place.close()
        raise DeviceLost(
            f"device {self.remote.key!r} of the tracker at {self.remote.address} was lost twice "
            f"during {what} ({first_line(last or Exception())})"
        )

    def runner(self, timeout_s: float, evaluator: Any) -> RemoteRunner:
        """MetaSchedule's RPCRunner on the key's devices (each run one session, ended by the
        server after `timeout_s`), waiting for a free device before each run."""
        from tvm.s_tir import meta_schedule as ms

        config = ms.runner.RPCConfig(
            tracker_host=self.remote.host,
            tracker_port=self.remote.port,
            tracker_key=self.remote.key,
            session_timeout_sec=max(1, int(timeout_s)),
        )
        rpc = ms.runner.RPCRunner(
            rpc_config=config, evaluator_config=evaluator, f_create_session=create_session
        )
        return RemoteRunner(self, rpc)


def create_session(rpc_config: Any) -> Any:
    """The RPCRunner's session (in its worker process), its wait for the device bounded: the
    runner's own waits without end when the device is gone. (No line here that a traceback
    shows says 'timeout': a run error that did would be classified as a timeout.)"""
    key, ends_after = rpc_config.tracker_key, rpc_config.session_timeout_sec
    with Tracker(rpc_config.tracker_host, int(rpc_config.tracker_port)) as tracker:
        return tracker.request(key, REQUEST_WAIT_S, ends_after)


@derived_object
class RemoteRunner(PyRunner):
    """Runs candidates one at a time on the key's devices (MetaSchedule asks for the results in
    order): each waits for a free device, then runs through MetaSchedule's RPCRunner."""

    def __init__(self, device: RemoteDevice, rpc: Any) -> None:
        super().__init__()
        self.device, self.rpc = device, rpc

    def run(self, runner_inputs: list[RunnerInput]) -> list[Any]:
        return [RemoteFuture(self.device, self.rpc, x) for x in runner_inputs]


@derived_object
class RemoteFuture(PyRunnerFuture):
    """One candidate's run, started when its result is asked for."""

    def __init__(self, device: RemoteDevice, rpc: Any, runner_input: RunnerInput) -> None:
        super().__init__()
        self.device, self.rpc, self.input = device, rpc, runner_input
        self._result: RunnerResult | None = None

    def done(self) -> bool:
        return self._result is not None

    def result(self) -> RunnerResult:
        if self._result is None:
            self.device.wait()  # DeviceLost (a RuntimeError once through MetaSchedule) past the deadline
            ran = self.rpc.run([self.input])[0].result()
            if ran.error_msg and is_lost(str(ran.error_msg)):
                r = self.device.remote
                ran = RunnerResult(
                    None,
                    f"device lost: the RPC session on device {r.key!r} of the tracker at {r.address} "
                    "ended during this run (its server died or the connection dropped; a candidate "
                    f"that crashes the server ends it too): {last_line(str(ran.error_msg))}",
                )
            self._result = ran
        return self._result
