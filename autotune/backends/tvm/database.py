"""Our SQLite tuning database, seen by MetaSchedule as a `PyDatabase`.

One adapter is bound to one target (device + compiler versions). MetaSchedule finds
workloads by structural hash, which is our workload fingerprint. During tuning the
adapter feeds the evolutionary search its fastest traces so far (so a resumed job warm
starts); at compile time (`apply=True`) it answers with the workload's best (the one rule
of `TuningDatabase.best`) and with nothing when the compiler's default stays the best.

Example::

    with open_db(path) as db:
        msdb = MetaScheduleDatabase(db, target)
        with target, msdb, tvm.transform.PassContext(opt_level=3):
            ...  # MetaScheduleApplyDatabase now reads our records
"""

from __future__ import annotations

import warnings
from typing import Any

import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.meta_schedule.database import PyDatabase, TuningRecord, Workload

from autotune.backends.tvm import traces
from autotune.backends.tvm.workload import fingerprint, target_info, target_json
from autotune.compare import failed_run
from autotune.db.base import TuningDatabase
from autotune.errors import first_line


def task_name(mod: Any) -> str:
    """A readable name for a PrimFunc module (its global symbol or function name)."""
    for gv, func in mod.functions.items():
        attrs = getattr(func, "attrs", None)
        if attrs is not None and "global_symbol" in attrs and str(attrs["global_symbol"]) != "main":
            return str(attrs["global_symbol"])
        return str(gv.name_hint)
    return "workload"


def args_info_json(mod: Any) -> list[Any]:
    """The argument description MetaSchedule stores next to a record."""
    func = next(iter(mod.functions.values()))
    return [a.as_json() for a in ArgInfo.from_prim_func(func)]


def trace_json(record: TuningRecord) -> Any:
    """The trace of a record (its decisions included) as plain JSON."""
    return plain_trace(record.trace)


def plain_trace(trace: Any) -> Any:
    """A MetaSchedule trace as plain JSON: [instructions, decisions] of lists, numbers and
    strings, an index map (of `TransformLayout`) as its TVM JSON text. (MetaSchedule's own
    `as_json` helpers leave IntImm objects in, or fail on an index map.)"""
    from tvm.s_tir.schedule import _ffi_api

    return _plain_json(_ffi_api.TraceAsJSON(trace, False))


def _plain_json(obj: Any) -> Any:
    from tvm.ir import save_json
    from tvm.tirx.expr import FloatImm, IntImm
    from tvm.tirx.function import IndexMap
    from tvm_ffi import Array, Map

    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, IntImm | FloatImm):
        return obj.value
    if isinstance(obj, IndexMap):
        return save_json(obj)
    if isinstance(obj, Map):
        return {_plain_json(k): _plain_json(v) for k, v in obj.items()}
    if isinstance(obj, Array):
        return [_plain_json(v) for v in obj]
    raise TypeError(f"unexpected {type(obj).__name__} in a MetaSchedule trace")


@derived_object
class MetaScheduleDatabase(PyDatabase):
    """A PyDatabase over an autotune SQLite database, for one target."""

    def __init__(
        self,
        db: TuningDatabase,
        target: Any,
        job_id: int | None = None,
        apply: bool = False,
        strict: bool = False,
    ) -> None:
        super().__init__()
        self.db = db
        self.target = target
        self.job_id = job_id
        self.apply = apply
        self.strict = strict
        info = target_info(target)
        self.target_id = db.find_target(info) if getattr(db, "readonly", False) else db.target_id(info)
        self._target_json = target_json(target)
        self._ids: dict[str, int] = {}

    # --- workloads ----------------------------------------------------------------
    def workload_id(self, mod: Any, fp: str | None = None) -> int | None:
        """Our id of a workload, or None when unknown."""
        fp = fp or fingerprint(mod)
        if fp not in self._ids:
            wid = self.db.workload_id(fp)
            if wid is None:
                return None
            self._ids[fp] = wid
        return self._ids[fp]

    def add_workload(self, mod: Any, name: str | None = None) -> int:
        fp = fingerprint(mod)
        wid = self.workload_id(mod, fp)
        if wid is None:
            wid = self.db.add_workload(
                fp,
                "tvm",
                name or task_name(mod),
                tvm.ir.save_json(mod),
                {"args_info": args_info_json(mod)},
            )
            self._ids[fp] = wid
        return wid

    def has_workload(self, mod: Any) -> bool:
        return self.workload_id(mod) is not None

    def commit_workload(self, mod: Any) -> Workload:
        if not self.apply:
            self.add_workload(mod)
        return Workload(mod)

    # --- records ------------------------------------------------------------------
    def commit_tuning_record(self, record: TuningRecord) -> None:
        wid = self.add_workload(record.workload.mod)
        secs = [float(s) for s in (record.run_secs or [])]
        ok = not failed_run(secs)
        self.db.record(
            wid,
            "trace",
            {"trace": trace_json(record)},
            self.target_id,
            "ok" if ok else "run_error",
            secs if ok else [],
            job_id=self.job_id,
            source="tune",
        )

    def _to_record(self, workload: Workload, config: Any, samples: list[float]) -> TuningRecord:
        return TuningRecord.from_json(
            [config["trace"], samples, self._target_json, args_info_json(workload.mod)], workload
        )

    def get_top_k(self, workload: Workload, top_k: int) -> list[TuningRecord]:
        if not self.apply:
            return self._top_k(workload, top_k)
        try:  # compile time: a bad record costs its subgraph the tuned schedule, never the compile
            return self._top_k(workload, top_k)
        except Exception as exc:
            if self.strict:
                raise
            reason = first_line(exc)
            where = getattr(self.db, "path", "tuning database")
            warnings.warn(
                f"autotune: {where}: the tuned schedule of {task_name(workload.mod)} does not apply "
                f"({reason}); that subgraph keeps TVM's default",
                stacklevel=2,
            )
            return []

    def _top_k(self, workload: Workload, top_k: int) -> list[TuningRecord]:
        if self.target_id is None or top_k <= 0:
            return []
        wid = self.workload_id(workload.mod)
        if wid is None:
            return []
        if self.apply:  # compile time: the best, or nothing when the default stays the best
            best = self.db.best(wid, self.target_id)
            ranked = [best] if best is not None and best.kind == "trace" else []
            for r in ranked:
                traces.require(r.config)
        else:  # tuning: warm-start the search from the fastest traces so far
            ranked = [r for r in self.db.fastest(wid, self.target_id, top_k + 1) if r.kind == "trace"][:top_k]
        return [self._to_record(workload, r.config, r.samples) for r in ranked]

    def get_all_tuning_records(self) -> list[TuningRecord]:
        out: list[TuningRecord] = []
        if self.target_id is None:
            return out
        for w in self.db.workloads("tvm"):
            workload = Workload(tvm.ir.load_json(w["ir"]))
            for r in self.db.fastest(w["id"], self.target_id, 1 << 30):
                if r.kind == "trace":
                    out.append(self._to_record(workload, r.config, r.samples))
        return out

    def __len__(self) -> int:
        if self.target_id is None:
            return 0
        return self.db.count_ok(self.target_id)
