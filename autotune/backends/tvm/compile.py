"""Compile time: build a Relax model with the best schedules the database knows.

Subgraphs that were never tuned for this target (or whose default was measured faster
than any tuned schedule) keep TVM's default code; an unknown or missing database means
a plain default build. No error is raised for "nothing tuned yet".

Example::

    import autotune.tvm
    ex = autotune.tvm.compile(mod, "llvm", db="tuning.sqlite")
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
"""

from __future__ import annotations

import os
from typing import Any

from autotune.backends.tvm.workload import resolve_target
from autotune.db import default_path
from autotune.db.sqlite import SQLiteDatabase


def compile(
    mod: Any,
    target: Any = "llvm",
    db: str | os.PathLike | SQLiteDatabase | None = None,
    params: dict | None = None,
) -> Any:
    """`tvm.compile` for a Relax module, with the database's best schedules applied."""
    import tvm
    from tvm.s_tir.meta_schedule.relax_integration import compile_relax

    from autotune.backends.tvm.database import MetaScheduleDatabase

    target = resolve_target(target)
    store, owned = _open(db)
    if store is None:
        return tvm.compile(mod, target)
    try:
        msdb = MetaScheduleDatabase(store, target, apply=True)
        if msdb.target_id is None:  # nothing was ever tuned for this target
            return tvm.compile(mod, target)
        return compile_relax(msdb, mod, target, params)
    finally:
        if owned:
            store.close()


def _open(db: str | os.PathLike | SQLiteDatabase | None) -> tuple[SQLiteDatabase | None, bool]:
    if isinstance(db, SQLiteDatabase):
        return db, False
    path = db or default_path()
    if not os.path.exists(path):
        return None, False
    return SQLiteDatabase(path, readonly=True), True
