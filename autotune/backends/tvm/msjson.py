"""Import and export of MetaSchedule's JSON database (the two files of `ms.database.JSONDatabase`).

The format, as TVM 0.27 reads and writes it (one JSON value per line, no blank lines):

- ``database_workload.json``: line i is workload i, ``Workload.as_json()`` =
  ``[shash, ir_b64]``: ``shash`` is the decimal text of the module's structural hash (the
  same number as our fingerprint ``tvm:sh1:<hex>``; MetaSchedule recomputes it when it
  loads), ``ir_b64`` is base64 of an 8-byte little-endian length + ``tvm.ir.save_json(mod)``.
- ``database_tuning_record.json``: ``[workload_index, TuningRecord.as_json()]`` with
  ``TuningRecord.as_json()`` = ``[trace, run_secs, target, args_info]``: ``trace`` is
  ``[[inst, ...], [[inst_index, decision], ...]]``, ``run_secs`` a list of seconds or null,
  ``target`` the target's attributes (a JSON object) or null, ``args_info`` a list like
  ``[["TENSOR", "float32", [32, 32]], ...]`` or null. TVM's C++ writer prints booleans as
  1/0, Python's ``as_json()`` gives true/false; both load. A run that failed is committed by
  MetaSchedule with ``run_secs == [1e10]``.

In our database a record becomes a measurement (source "import") of a "trace" config
``{"trace": trace}`` (the trace as ``TuningRecord.as_json()[0]`` gives it); a failed or
missing ``run_secs`` becomes status ``run_error``. Importing the same files twice adds
nothing. Export writes every 'ok' measurement of a trace config (never of a config with a
wrong result on that target), one MetaSchedule record per measurement.

Example::

    from autotune.db import open_db
    from autotune.backends.tvm import msjson
    with open_db("tuning.sqlite") as db:
        print(msjson.import_ms(db, "work_dir"))        # {'workloads': 3, 'records': 120, ...}
        msjson.export_ms(db, "out_dir")                # -> (3, 97)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotune.backends.tvm import traces
from autotune.compare import FAILED_RUN_SECS, failed_run
from autotune.db.base import TuningDatabase
from autotune.db.records import DatabaseError, canonical_json, parse_json, parse_samples
from autotune.errors import UserError

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"
SOURCE = "import"
MAX_FILE_BYTES = 512 << 20  # one file of a MetaSchedule database
MAX_LINE_CHARS = 4 << 20  # one workload or record (real ones are a few KiB)
#: The host of an imported measurement: unknown, and never this one (it decides no best here).
IMPORTED = "unknown (imported MetaSchedule log)"

__all__ = [
    "FAILED_RUN_SECS",
    "RECORD_FILE",
    "WORKLOAD_FILE",
    "MSLog",
    "export_ms",
    "import_ms",
    "ms_paths",
    "read_ms",
    "write_ms",
]


@dataclass
class MSWorkload:
    """One workload line, decoded."""

    fingerprint: str
    name: str
    ir: str
    args_info: list | None = None


@dataclass
class MSRecord:
    """One tuning-record line, decoded and validated (its trace replays on its workload)."""

    workload: int  # index into MSLog.workloads
    trace: Any
    status: str  # 'ok' | 'run_error'
    samples: list[float]
    target_json: dict[str, Any]
    error: str = ""


@dataclass
class MSLog:
    """The content of a MetaSchedule JSON database."""

    workloads: list[MSWorkload] = field(default_factory=list)
    records: list[MSRecord] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # 'file:line: why' of records left out


def ms_paths(path: str | os.PathLike | tuple | list) -> tuple[Path, Path]:
    """(workload file, record file) of a directory, or the two paths given as a pair."""
    if isinstance(path, (tuple, list)):
        if len(path) != 2:
            raise UserError("expected a directory or (workload file, tuning-record file)")
        return Path(path[0]), Path(path[1])
    d = Path(path)
    return d / WORKLOAD_FILE, d / RECORD_FILE


def _lines(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed JSON) of every non-blank line of a file."""
    if not path.is_file():
        raise UserError(f"{path}: no such MetaSchedule database file")
    out = []
    if path.stat().st_size > MAX_FILE_BYTES:
        raise UserError(
            f"{path}: {path.stat().st_size >> 20} MiB, over the import limit of {MAX_FILE_BYTES >> 20} MiB"
        )
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if len(line) > MAX_LINE_CHARS:
                    raise UserError(
                        f"{path}:{n}: a line of {len(line) >> 20} MiB, over the limit of "
                        f"{MAX_LINE_CHARS >> 20} MiB"
                    )
                if line.strip():
                    out.append((n, json.loads(line)))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a MetaSchedule JSON file (not text: {exc.reason})") from exc
    except ValueError as exc:
        raise UserError(f"{path}:{n}: not a MetaSchedule JSON file (bad JSON: {exc})") from exc
    except RecursionError:
        raise UserError(f"{path}:{n}: not a MetaSchedule JSON file (nested too deeply)") from None
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # TVM errors end with the message after a C++ backtrace; keep that line.
    line = lines[-1] if lines else ""
    if not line or line == "(not rendered)":  # ScheduleError: a trace that does not replay
        line = f"{type(exc).__name__}: the trace does not apply to the workload"
    return line[:300]


def _workload_name(mod: Any) -> str:
    funcs = list(mod.functions.items())
    if len(funcs) == 1:
        gv, func = funcs[0]
        symbol = func.attrs.get("global_symbol") if func.attrs is not None else None
        return str(symbol or gv.name_hint)
    return ",".join(sorted(gv.name_hint for gv, _ in funcs)) or "module"


def read_ms(path: str | os.PathLike | tuple | list) -> MSLog:
    """Read and validate a MetaSchedule JSON database; touches no tuning database.

    Raises UserError naming the file and line of anything that does not load.
    """
    wpath, rpath = ms_paths(path)
    wlines, rlines = _lines(wpath), _lines(rpath)  # before the slow import of TVM

    import tvm
    from tvm.s_tir.meta_schedule.database import TuningRecord, Workload

    from autotune.backends.tvm.database import plain_trace
    from autotune.backends.tvm.workload import fingerprint

    log = MSLog()
    ms_workloads = []
    for n, obj in wlines:
        if not (isinstance(obj, list) and len(obj) == 2 and all(isinstance(x, str) for x in obj)):
            raise UserError(f"{wpath}:{n}: not a MetaSchedule workload ([shash, base64 IR] expected)")
        try:
            wl = Workload.from_json(obj)
            mod = wl.mod
            ir = tvm.ir.save_json(mod)
        except Exception as exc:  # TVM raises its own error types for undecodable IR
            raise UserError(f"{wpath}:{n}: bad MetaSchedule workload: {_first_line(exc)}") from exc
        ms_workloads.append(wl)
        log.workloads.append(MSWorkload(fingerprint(mod), _workload_name(mod), ir))
    for n, obj in rlines:
        where = f"{rpath}:{n}"
        if not (
            isinstance(obj, list)
            and len(obj) == 2
            and isinstance(obj[0], int)
            and not isinstance(obj[0], bool)
            and isinstance(obj[1], list)
        ):
            raise UserError(f"{where}: not a MetaSchedule tuning record ([workload index, record] expected)")
        index, body = obj
        if not 0 <= index < len(ms_workloads):
            raise UserError(
                f"{where}: workload index {index} out of range (the workload file has "
                f"{len(ms_workloads)} workloads)"
            )
        trace = body[0] if body else None
        shaped = isinstance(trace, list) and len(trace) == 2 and all(isinstance(p, list) for p in trace)
        problem = traces.check(trace) if shaped else ""  # a malformed record fails below, whole file
        if problem:  # a trace MetaSchedule's own spaces would not write: never replayed, never stored
            log.refused.append(f"{where}: {problem}")
            continue
        try:
            rec = TuningRecord.from_json(body, ms_workloads[index])  # replays the trace: validates it
            trace = plain_trace(rec.trace)  # the replayed trace (index maps as TVM JSON text)
            _, run_secs, target, args_info = (list(body) + [None] * 4)[:4]
        except Exception as exc:
            raise UserError(f"{where}: bad MetaSchedule tuning record: {_first_line(exc)}") from exc
        if not isinstance(target, dict):
            raise UserError(f"{where}: tuning record without a target")
        secs = None if run_secs is None else [float(v) for v in run_secs]
        if failed_run(secs):
            status, samples, error = "run_error", [], f"MetaSchedule run failed (run_secs={run_secs})"
        else:
            status, samples, error = "ok", secs, ""
        log.records.append(MSRecord(index, trace, status, samples, target, error))
        if args_info is not None and log.workloads[index].args_info is None:
            log.workloads[index].args_info = args_info
    return log


def import_ms(db: TuningDatabase, path: str | os.PathLike | tuple | list) -> dict[str, int]:
    """Read a MetaSchedule JSON database into ours; returns counts (see `write_ms`)."""
    return write_ms(db, read_ms(path))


def write_ms(db: TuningDatabase, log: MSLog, model: str | None = None) -> dict[str, int]:
    """Store a read MetaSchedule log: workloads by fingerprint, records as 'import' measurements.

    Records already imported (same config, target, status and samples) are not added again.
    With `model`, the log's workloads are recorded as that model (a MetaSchedule log names
    none), so that `autotune best MODEL` can be asked about them.
    Returns counts: workloads, new_workloads, targets, records (added), ok, run_error, duplicates.
    """
    import tvm

    from autotune.backends.tvm.workload import target_info

    counts = {
        "workloads": 0,
        "new_workloads": 0,
        "targets": 0,
        "records": 0,
        "ok": 0,
        "run_error": 0,
        "duplicates": 0,
    }
    wids: list[int] = []
    for w in log.workloads:
        if db.workload(w.fingerprint) is None:
            counts["new_workloads"] += 1
        meta = {"args_info": w.args_info} if w.args_info is not None else {}
        wids.append(db.add_workload(w.fingerprint, "tvm", w.name, w.ir, meta))
    counts["workloads"] = len(set(wids))
    if model:
        db.set_model(model, "tvm", "imported MetaSchedule log", [(w, 1) for w in wids])
    tids: dict[str, int] = {}
    for r in log.records:
        key = canonical_json(r.target_json)
        if key not in tids:
            try:
                info = target_info(tvm.target.Target(r.target_json))
            except Exception as exc:
                raise UserError(
                    f"bad target in MetaSchedule record: {key[:200]} ({_first_line(exc)})"
                ) from exc
            tids[key] = db.target_id(info)
    counts["targets"] = len(set(tids.values()))
    existing = _imported(db)
    for r in log.records:
        wid, tid = wids[r.workload], tids[canonical_json(r.target_json)]
        config = {"trace": r.trace}
        ident = (wid, tid, canonical_json(config), r.status, canonical_json(r.samples))
        if existing[ident] > 0:
            existing[ident] -= 1
            counts["duplicates"] += 1
            continue
        db.record(wid, "trace", config, tid, r.status, r.samples, error=r.error, source=SOURCE, host=IMPORTED)
        counts["records"] += 1
        counts[r.status] += 1
    return counts


def _imported(db: TuningDatabase) -> Counter:
    """How many times each (workload, target, config, status, samples) was imported already."""
    configs: dict[int, tuple[int, str]] = {}
    out: Counter = Counter()
    for table, row in db.dump():
        if table == "configs":
            configs[row["id"]] = (row["workload_id"], canonical_json(parse_json(row["config"], "config")))
        elif table == "measurements" and row["source"] == SOURCE and row["config_id"] in configs:
            wid, text = configs[row["config_id"]]
            samples = canonical_json(parse_samples(row["samples"]))
            out[(wid, row["target_id"], text, row["status"], samples)] += 1
    return out


def export_ms(
    db: TuningDatabase,
    out_dir: str | os.PathLike,
    target_id: int | None = None,
    overwrite: bool = False,
) -> tuple[int, int]:
    """Write our TVM results as a MetaSchedule JSON database in out_dir; returns (workloads, records).

    Every TVM workload is written; records are the 'ok' measurements of trace configs (on
    `target_id` only, if given), skipping configs with a wrong result on that target. The
    files are written next to their final place and moved in when complete. Existing files
    are refused unless `overwrite`.
    """
    out = Path(out_dir)
    wpath, rpath = ms_paths(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: not a directory")
    if not overwrite:
        for p in (wpath, rpath):
            if p.exists() and p.stat().st_size > 0:
                raise UserError(f"{p}: already exists (export into an empty directory)")
    tables = _load(db)
    targets = {i: t for i, t in tables["targets"].items() if t["compiler"] == "tvm"}
    if target_id is not None:
        if target_id not in tables["targets"]:
            raise UserError(f"no target with id {target_id} in the database")
        if target_id not in targets:
            raise UserError(f"target {target_id} is not a TVM target")
        targets = {target_id: targets[target_id]}
    workloads = sorted(
        (w for w in tables["workloads"].values() if w["compiler"] == "tvm"), key=lambda w: w["id"]
    )
    wrong = {
        (m["config_id"], m["target_id"]) for m in tables["measurements"] if m["status"] == "wrong_result"
    }
    by_workload: dict[int, list[tuple[dict, dict]]] = {}
    for m in sorted(tables["measurements"], key=lambda m: m["id"]):
        c = tables["configs"].get(m["config_id"])
        if (
            c is None
            or c["kind"] != "trace"
            or m["status"] != "ok"
            or m["target_id"] not in targets
            or (m["config_id"], m["target_id"]) in wrong
        ):
            continue
        by_workload.setdefault(c["workload_id"], []).append((c, m))

    import tvm  # only now: everything that can be refused quickly has been checked
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo
    from tvm.s_tir.meta_schedule.database import JSONDatabase, TuningRecord

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".autotune-export-", dir=out))
    try:
        msdb = JSONDatabase(str(tmp / WORKLOAD_FILE), str(tmp / RECORD_FILE), allow_missing=True)
        n_records = 0
        for w in workloads:
            what = f"workload {w['id']} ({w['name']})"
            try:
                mod = tvm.ir.load_json(w["ir"])
                ms_wl = msdb.commit_workload(mod)
            except Exception as exc:
                raise DatabaseError(f"{what}: IR does not load: {_first_line(exc)}") from exc
            args_info = w["meta"].get("args_info") if isinstance(w["meta"], dict) else None
            if args_info is None:
                try:
                    args_info = [a.as_json() for a in ArgInfo.from_entry_func(mod, remove_preproc=True)]
                except Exception:  # not a single PrimFunc: MetaSchedule accepts null
                    args_info = None
            for c, m in by_workload.get(w["id"], []):
                config = c["config"]
                if not isinstance(config, dict) or "trace" not in config:
                    raise DatabaseError(f"config {c['id']}: a 'trace' config without a trace")
                body = [config["trace"], m["samples"], targets[m["target_id"]]["target_json"], args_info]
                try:
                    msdb.commit_tuning_record(TuningRecord.from_json(body, ms_wl))
                except Exception as exc:
                    raise DatabaseError(
                        f"config {c['id']} of {what}: trace does not replay: {_first_line(exc)}"
                    ) from exc
                n_records += 1
        del msdb
        n_workloads = sum(1 for ln in open(tmp / WORKLOAD_FILE, encoding="utf-8") if ln.strip())
        os.replace(tmp / WORKLOAD_FILE, wpath)
        os.replace(tmp / RECORD_FILE, rpath)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n_workloads, n_records


def _load(db: TuningDatabase) -> dict[str, Any]:
    """The rows export needs, parsed and validated."""
    tables: dict[str, Any] = {"targets": {}, "workloads": {}, "configs": {}, "measurements": []}
    for table, row in db.dump():
        if table == "targets":
            row["target_json"] = parse_json(row["target_json"], "target_json")
            tables["targets"][row["id"]] = row
        elif table == "workloads":
            row["meta"] = parse_json(row["meta"], "workload meta")
            tables["workloads"][row["id"]] = row
        elif table == "configs":
            row["config"] = parse_json(row["config"], "config")
            tables["configs"][row["id"]] = row
        elif table == "measurements":
            if row["status"] == "ok":
                row["samples"] = parse_samples(row["samples"])
            tables["measurements"].append(row)
    return tables
