"""Measuring XLA candidates on the devices of a Ray cluster: the isolated worker runs where the
accelerator is.

Nodes with a device join the cluster offering a Ray resource named by the job's device key
(`ray start --address HEAD --resources '{"KEY": 1}'`, one unit per device). A job with
`ray` and `device_key` (autotune/tuning/jobfile.py):

- `describe_device` runs `workload.target_info` on a node that offers the key (pinned to the
  node, without taking a unit, so it answers while another model measures there): the
  records are the device's target's, its CPU or GPU model and its jaxlib, exactly what
  the compile-time loader finds when it runs on that device. No node offers the key, or
  none answers in time: one `UserError` line, before any work.
- `RayWorker` is the model's `runner.IsolatedWorker` inside a Ray actor (`_Host`) that holds
  one unit of the key: everything compiled, checked and timed for the model happens on
  that node (XLA compiles for the device it runs on), the compiler crashes caught there
  as here. It answers the same requests as an `IsolatedWorker`.
- A node or actor that goes away costs the request in flight, a run error that says
  "device lost"; the next request starts a new actor, waiting for a free unit of the key
  until the session's deadline (the job's), and then raises `DeviceLost`: the model stops,
  the job goes on.

Example::

    devices = RayDevices("127.0.0.1:6379", "xla-box")
    target = describe_device("cpu", devices)          # RemoteTarget('cpu', TargetInfo(...), devices)
    with RayWorker("mlp", target, timeout_s=120, deadline=None) as w:
        print(w.request({"op": "measure", "config": {}}))
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autotune.backends.base import DeviceLost, RayDevices
from autotune.backends.raycluster import connect, nodes_offering
from autotune.db.records import TargetInfo
from autotune.errors import UserError, first_line, last_line

#: How long describing the device may take (a node's first task starts a Ray worker).
DESCRIBE_WAIT_S = 120.0
#: On top of a request's own timeout (the worker inside enforces that one), before a node
#: that does not answer at all is given up: a restart of the worker there loads the model.
SILENT_NODE_S = 360.0
#: How long a wait for a free device lasts when the session has no deadline.
NO_DEADLINE_WAIT_S = 600.0


@dataclass(frozen=True)
class RemoteTarget:
    """An XLA target on a cluster's devices: the platform, the device's own description."""

    platform: str
    info: TargetInfo
    devices: RayDevices
    node: str  # the host name of the node that described it


def _describe(platform: str) -> tuple[TargetInfo, str]:
    """Runs on the device's node: its target description and host name."""
    from autotune.backends.xla.workload import target_info

    return target_info(platform), socket.gethostname()


def describe_device(platform: str, devices: RayDevices) -> RemoteTarget:
    """The target of the devices of `devices.key`, described on one of their nodes."""
    ray = connect(devices.address)
    nodes = nodes_offering(devices.key)
    if not nodes:
        raise UserError(
            f"--device-key {devices.key}: no node of the Ray cluster at {devices.address} offers the "
            f"resource {devices.key!r} (ray start --address HEAD --resources '{{\"{devices.key}\": 1}}')"
        )
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    strategy = NodeAffinitySchedulingStrategy(nodes[0]["NodeID"], soft=False)
    task = ray.remote(num_cpus=0, max_retries=1)(_describe).options(scheduling_strategy=strategy)
    try:
        info, node = ray.get(task.remote(platform), timeout=DESCRIBE_WAIT_S)
    except Exception as exc:  # noqa: BLE001 - Ray's errors (timeout, node died, JAX sees no GPU)
        raise UserError(
            f"--device-key {devices.key}: the device did not describe itself ({first_line(exc)})"
        ) from None
    return RemoteTarget(platform, info, devices, node)


class _Host:
    """The Ray actor on the device's node: one `IsolatedWorker` for one model."""

    def __init__(self, source: str, platform: str, timeout_s: float) -> None:
        from autotune.backends.xla.runner import IsolatedWorker
        from autotune.passes import xla_options

        options = xla_options.available()  # the options of the device's own jaxlib
        self.tmp = tempfile.TemporaryDirectory(prefix="autotune-xla-remote-")
        tmp = Path(self.tmp.name)
        self.worker = IsolatedWorker(
            source, platform, options, tmp / "ref.npz", timeout_s, log_path=tmp / "worker.log"
        )

    def hello(self) -> dict[str, Any]:
        """The model's workload info, the worker's start-up seconds and where it runs."""
        return {
            "info": self.worker.info,
            "startup_s": self.worker.startup_s,
            "node": socket.gethostname(),
            "pid": os.getpid(),
        }

    def request(self, msg: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any], float]:
        """One request to the worker, and its start-up seconds so far (a restart after a crash)."""
        reply = self.worker.request(msg, timeout_s)
        return reply, self.worker.startup_s

    def close(self) -> None:
        self.worker.close()
        self.tmp.cleanup()


class RayWorker:
    """A model's isolated worker on a device of the cluster (see the module docstring)."""

    def __init__(
        self,
        source: str,
        target: RemoteTarget,
        timeout_s: float = 120.0,
        deadline: float | None = None,
    ) -> None:
        self.source, self.target = source, target
        self.timeout_s, self.deadline = timeout_s, deadline
        self.info: dict[str, Any] = {}
        self.startup_s = 0.0
        self.restarts = 0
        self.node = ""
        self.pid = 0  # the actor's process (tests end it)
        self._actor: Any = None
        self._actor_startup = 0.0
        self._start()

    def __enter__(self) -> RayWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        """A new actor on a free device of the key, the model loaded there."""
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        from autotune.backends.xla.runner import WorkerLoadError

        ray = connect(self.target.devices.address)
        key = self.target.devices.key
        t0 = time.perf_counter()
        wait = (self.deadline - time.time()) if self.deadline is not None else NO_DEADLINE_WAIT_S
        actor_cls = _host_class(ray).options(num_cpus=0, resources={key: 1}, max_restarts=0)
        while True:
            actor = actor_cls.remote(self.source, self.target.platform, self.timeout_s)
            try:
                hello = ray.get(actor.hello.remote(), timeout=max(1.0, wait - (time.perf_counter() - t0)))
                break
            except GetTimeoutError:
                ray.kill(actor)
                raise DeviceLost(
                    f"no device of Ray resource {key!r} came back within the job's clock"
                ) from None
            except RayTaskError as exc:
                ray.kill(actor)
                if isinstance(exc.cause, WorkerLoadError):
                    raise WorkerLoadError(str(exc.cause)) from None
                raise
            except RayActorError:  # its node went away while it started: wait for another
                if time.perf_counter() - t0 >= wait:
                    raise DeviceLost(
                        f"no device of Ray resource {key!r} stayed up within the job's clock"
                    ) from None
                time.sleep(1.0)
        self._actor = actor
        self.info, self.node, self.pid = hello["info"], hello["node"], hello["pid"]
        self._actor_startup = hello["startup_s"]
        self.startup_s += time.perf_counter() - t0

    def request(self, msg: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """Send one request; a crash, a timeout or a lost device comes back as a failed outcome
        (`DeviceLost` only when no device is back by the deadline)."""
        from ray.exceptions import GetTimeoutError, RayActorError

        ray = connect(self.target.devices.address)
        if self._actor is None:
            self.restarts += 1
            self._start()
        timeout_s = timeout_s or self.timeout_s
        try:
            reply, startup = ray.get(
                self._actor.request.remote(msg, timeout_s), timeout=timeout_s + SILENT_NODE_S
            )
        except RayActorError as exc:
            self._actor = None
            return {"status": "run_error", "error": f"device lost: {last_line(exc, 300)}"}
        except GetTimeoutError:
            ray.kill(self._actor)
            self._actor = None
            return {
                "status": "timeout",
                "error": f"the device's node did not answer within {timeout_s + SILENT_NODE_S:.0f} s",
            }
        self.startup_s += startup - self._actor_startup  # the worker restarted there after a crash
        self._actor_startup = startup
        return reply

    def close(self) -> None:
        if self._actor is None:
            return
        ray = connect(self.target.devices.address)
        try:
            ray.get(self._actor.close.remote(), timeout=30)
        except Exception:  # noqa: BLE001 - a node gone already: nothing left to close there
            pass
        ray.kill(self._actor)
        self._actor = None


_HOST: Any = None


def _host_class(ray: Any) -> Any:
    """`_Host` as a Ray actor class (made once per process)."""
    global _HOST
    if _HOST is None:
        _HOST = ray.remote(_Host)
    return _HOST
