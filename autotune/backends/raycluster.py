"""Joining a Ray cluster, for the job fan-out (autotune/tuning/fanout.py) and for measuring
on the devices of a cluster's nodes (autotune/backends/xla/remote.py).

`connect` joins (or starts, for "local") the cluster once per process and remembers whether
this process started the connection, so that `disconnect` ends only what it began (inside a
Ray task the connection is the worker's own, and is left alone). Ray itself waits forever for
a cluster address where nothing listens; `connect` says so in one line instead.

Ray is optional (`pip install 'autotune[ray]'`). Example::

    connect("127.0.0.1:6379")
    nodes = nodes_offering("gpu-a100")    # alive nodes that offer that Ray resource
    disconnect()
"""

from __future__ import annotations

import os
import socket
from typing import Any

from autotune.errors import UserError, first_line

#: Whether this process began the connection (and so ends it).
_ours = False


def ray_module() -> Any:
    """The `ray` package; UserError when it is not installed."""
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'autotune[ray]'") from None
    return ray


def connect(address: str) -> Any:
    """Join the cluster at `address` ("auto", "local", HOST:PORT or ray://HOST:PORT) unless this
    process is connected already; returns `ray`. A cluster that does not answer is a UserError."""
    global _ours
    ray = ray_module()
    if not isinstance(address, str) or not address:
        raise UserError("--ray: expected auto, local or a cluster address (HOST:PORT or ray://HOST:PORT)")
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address == "local":
        kwargs["address"] = "local"
    elif address != "auto" or os.environ.get("RAY_ADDRESS"):
        reachable(address)
        kwargs["address"] = address
    else:
        kwargs["address"] = "auto"
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
        raise UserError(f"--ray {address}: cannot reach a Ray cluster ({first_line(exc)})") from None
    _ours = True
    return ray


def disconnect() -> None:
    """End the connection if `connect` began it."""
    global _ours
    if _ours:
        ray_module().shutdown()
        _ours = False


def reachable(address: str, timeout_s: float = 5.0) -> None:
    """One clear line when nothing listens at a cluster address (HOST:PORT, ray://HOST:PORT)."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray {address}: expected auto, local, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise UserError(f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def nodes_offering(resource: str) -> list[dict[str, Any]]:
    """The alive nodes of the connected cluster that offer `resource` (`ray.nodes()` rows)."""
    ray = ray_module()
    return [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(resource, 0) > 0]
