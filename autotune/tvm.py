"""Compile-time entry point for TVM: `autotune.tvm.compile(mod, target, db=...)`.

Example::

    import autotune.tvm
    ex = autotune.tvm.compile(relax_mod, "llvm", db="tuning.sqlite")
"""

from __future__ import annotations

from autotune.backends.tvm.compile import compile

__all__ = ["compile"]
