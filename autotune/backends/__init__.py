"""Backends: each compiler as the tuning loop sees it (see base.py); one folder per backend.

Example::

    from autotune import backends
    backends.names()            # ['tvm', 'xla'] (nothing heavy imported)
    backends.get("tvm")         # the TVM backend (imports TVM lazily, on use)
"""

from autotune.backends.base import Backend, Comparison, Outcome, Session, Workload, get, names, register

__all__ = ["Backend", "Comparison", "Outcome", "Session", "Workload", "get", "names", "register"]
