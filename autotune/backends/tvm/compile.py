"""Compile time: build a Relax model with the best schedules the database knows.

Subgraphs that were never tuned for this target (or whose best is the default) keep TVM's
default code; an unknown or missing database means a plain default build. No error is
raised for "nothing tuned yet", nor for a database that is unusable: one warning, and the
compiler's defaults.

Example::

    import autotune.tvm
    ex = autotune.tvm.compile(mod, "llvm", db="tuning.sqlite")
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from autotune.backends.tvm.threads import use_cores
from autotune.backends.tvm.workload import resolve_target
from autotune.db import DatabaseError, default_path
from autotune.db.sqlite import SQLiteDatabase


def compile(
    mod: Any,
    target: Any = "llvm",
    db: str | os.PathLike | SQLiteDatabase | None = None,
    params: dict | None = None,
    strict: bool = False,
    graph_config: dict[str, Any] | None = None,
) -> Any:
    """`tvm.compile` for a Relax module, with the database's best schedules applied.

    The model's best graph-level config (layouts, fusion, operator forms; found by the joint
    search) is applied first, and the best schedules of the subgraphs it makes after.
    `graph_config` builds under that config instead (`{}`: TVM's own graph); a stored config
    that no longer applies to the model (its decisions are gone) means TVM's own graph, with
    one warning.

    Whatever is wrong with the database (unreadable, too new, a record that no longer or
    never applies), the model compiles: the affected subgraphs (or, if the database cannot
    be read at all, the whole model) keep TVM's defaults, with one warning naming the file
    and the reason. With `strict=True` such a problem raises instead.

    TVM's runtime in this process is set to run parallel loops on the target's `num-cores`
    threads (what the schedules were tuned for), unless `TVM_NUM_THREADS` says otherwise:
    left alone, it would take half the logical CPUs of an x86 machine.
    """
    import tvm
    from tvm import relax

    from autotune.backends.tvm.database import MetaScheduleDatabase
    from autotune.backends.tvm.importer import build_tuned

    target = resolve_target(target)
    use_cores(int(target.export().get("num-cores", 1)))
    if params:
        mod = relax.transform.BindParams("main", params)(mod)
    try:
        store, owned = _open(db)
    except DatabaseError as exc:
        if strict:
            raise
        _warn(f"tuning database unusable, compiling with TVM's defaults: {exc}")
        return tvm.compile(mod, target)
    if store is None:
        return tvm.compile(mod, target)
    try:
        msdb = MetaScheduleDatabase(store, target, apply=True, strict=strict)
        if msdb.target_id is None:  # nothing was ever tuned for this target
            return tvm.compile(mod, target)
        graph = _graph(mod, store, msdb.target_id, graph_config, strict)
        try:
            return build_tuned(mod, target, msdb, graph=graph)
        except Exception as exc:  # a record that builds nothing usable: never the user's problem
            if strict:
                raise
            _warn(f"{store.path}: tuned schedules do not compile, using TVM's defaults ({_first(exc)})")
            return tvm.compile(mod, target)
    finally:
        if owned:
            store.close()


def _graph(mod: Any, store: SQLiteDatabase, target_id: int, config: dict | None, strict: bool) -> Any:
    """The `GraphBuild` of the model's best graph-level config (or of `config`); None for
    TVM's own graph."""
    from autotune import passes
    from autotune.backends.base import GRAPH_KIND
    from autotune.backends.tvm import graph
    from autotune.backends.tvm.graph import GRAPH_COMPILER

    if config is None:
        if not store.workloads(GRAPH_COMPILER, with_ir=False):
            return None  # no model was searched at graph level: no hash of the model (~30 ms)
        best = store.best_for(graph.graph_fingerprint(mod), target_id)
        config = best.config if best is not None and best.kind == GRAPH_KIND else {}
    if not config:
        return None
    try:
        if not isinstance(config, dict):
            raise ValueError(f"not a config: {config!r}"[:200])
        config = passes.normalize(config, graph.decisions(graph.graph_info(mod)))
    except ValueError as exc:
        if strict:
            raise
        _warn(f"{store.path}: the model's graph-level config no longer applies, TVM's own graph used ({exc})")
        return None
    return graph.build_of(config)


def _first(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:300]


def _warn(message: str) -> None:
    warnings.warn(f"autotune: {message}", stacklevel=3)


def _open(db: str | os.PathLike | SQLiteDatabase | None) -> tuple[SQLiteDatabase | None, bool]:
    if isinstance(db, SQLiteDatabase):
        return db, False
    path = db or default_path()
    if not os.path.exists(path):
        return None, False
    return SQLiteDatabase(path, readonly=True), True
