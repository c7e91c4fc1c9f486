"""Decisions: what may be chosen for a workload (layout, fusion, tile, codegen) and how a
choice is applied. `base.py` is the extension point; one file per pass.

Example::

    from autotune import passes
    passes.kinds("tvm")          # ['tvm-codegen', 'tvm-fusion', 'tvm-layout']
"""

from autotune.passes.base import Decision, Pass, create, kinds, normalize, register, space_size

__all__ = ["Decision", "Pass", "create", "kinds", "normalize", "register", "space_size"]
