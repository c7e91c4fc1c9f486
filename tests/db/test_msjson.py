"""MetaSchedule JSON database <-> our database: a real JSONDatabase, imported and exported back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

tvm = pytest.importorskip("tvm")
import tvm_ffi
from tvm import te
from tvm.s_tir import Schedule
from tvm.s_tir import meta_schedule as ms

from autotune.backends.tvm import msjson
from autotune.backends.tvm.workload import fingerprint, target_info
from autotune.db import SQLiteDatabase
from autotune.db.records import canonical_json
from autotune.errors import UserError

pytestmark = pytest.mark.timeout(300)

TARGET_2 = {"kind": "llvm", "num-cores": 2}
TARGET_1 = {"kind": "llvm", "num-cores": 1}


def matmul(n: int) -> tvm.IRModule:
    a = te.placeholder((n, n), name="A")
    b = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c]).with_attr("global_symbol", "main")})


def add_relu(n: int) -> tvm.IRModule:
    a = te.placeholder((n, n), name="A")
    b = te.placeholder((n, n), name="B")
    c = te.compute((n, n), lambda i, j: te.max(a[i, j] + b[i, j], tvm.tirx.const(0, "float32")), name="C")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c]).with_attr("global_symbol", "main")})


def _schedule(mod: tvm.IRModule, seed: int) -> Schedule:
    """A MetaSchedule-style random schedule: sampled tiles, parallel, vectorize, sampled unroll.

    (TuneContext would give the same kind of traces, but it imports tvm.s_tir.tensor_intrin: ~23 s.)
    """
    sch = Schedule(mod, seed=seed)
    block = sch.get_sblock("C")
    loops = sch.get_loops(block)
    outer, inner = [], []
    for loop in loops:
        o, i = sch.split(loop, sch.sample_perfect_tile(loop, n=2, max_innermost_factor=16))
        outer.append(o)
        inner.append(i)
    sch.reorder(*outer, *inner)
    sch.parallel(outer[0])
    sch.vectorize(inner[-1] if len(loops) == 2 else inner[1])
    unroll = sch.sample_categorical([0, 16, 64, 512], [0.25] * 4)
    sch.annotate(sch.get_sblock("root"), "meta_schedule.unroll_explicit", unroll)
    return sch


def traces(mod: tvm.IRModule, count: int, first_seed: int = 1) -> list:
    """`count` different real traces of a module."""
    out: dict[str, object] = {}
    seed = first_seed
    while len(out) < count:
        tr = _schedule(mod, seed).trace
        out.setdefault(str(tr), tr)
        seed += 1
    return list(out.values())


@pytest.fixture(scope="module")
def ms_dir(tmp_path_factory) -> Path:
    """A JSONDatabase written by MetaSchedule itself: 3 workloads, ok and failed records, 2 targets."""
    d = tmp_path_factory.mktemp("ms")
    db = ms.database.JSONDatabase(work_dir=str(d), allow_missing=True)
    for mod, base in ((matmul(32), 1e-5), (add_relu(64), 2e-6)):
        wl = db.commit_workload(mod)
        args = ms.arg_info.ArgInfo.from_prim_func(mod["main"])
        for i, tr in enumerate(traces(mod, 6)):
            secs = [base * (1 + 0.5 * i), base * (1.02 + 0.5 * i), base * (0.99 + 0.5 * i)]
            db.commit_tuning_record(ms.database.TuningRecord(tr, wl, secs, tvm.target.Target(TARGET_2), args))
        tr = traces(mod, 1, first_seed=100)[0]
        db.commit_tuning_record(
            ms.database.TuningRecord(tr, wl, [base * 7], tvm.target.Target(TARGET_1), args)
        )
        # What MetaSchedule commits for a failed build or run, and a record without a time.
        db.commit_tuning_record(
            ms.database.TuningRecord(tr, wl, [msjson.FAILED_RUN_SECS], tvm.target.Target(TARGET_2), args)
        )
        db.commit_tuning_record(ms.database.TuningRecord(tr, wl, None, tvm.target.Target(TARGET_2), args))
    db.commit_workload(matmul(16))  # a workload nobody tuned yet
    return d


def load(d: Path) -> tuple[list, list]:
    """(workloads, records) as MetaSchedule reads them from a directory, in file order."""
    wls = [ms.database.Workload.from_json(json.loads(ln)) for ln in open(d / msjson.WORKLOAD_FILE)]
    recs = []
    for ln in open(d / msjson.RECORD_FILE):
        index, body = json.loads(ln)
        recs.append((index, ms.database.TuningRecord.from_json(body, wls[index])))
    return wls, recs


def record_key(wls, index, rec) -> tuple:
    trace, secs, target, args = rec.as_json()
    return (
        fingerprint(wls[index].mod),
        canonical_json(trace),
        tuple(secs),
        canonical_json(target),
        canonical_json(args),
    )


def ok_keys(d: Path) -> list:
    wls, recs = load(d)
    return sorted(record_key(wls, i, r) for i, r in recs if r.run_secs and max(map(float, r.run_secs)) < 1e9)


def top(db: ms.database.Database, mod: tvm.IRModule, k: int) -> list:
    wl = db.commit_workload(mod)  # finds the stored workload
    return [(canonical_json(r.as_json()[0]), [float(s) for s in r.run_secs]) for r in db.get_top_k(wl, k)]


def test_round_trip(ms_dir, tmp_path):
    original_files = {p.name: p.read_bytes() for p in ms_dir.iterdir()}
    with SQLiteDatabase(tmp_path / "t.sqlite") as db:
        counts = msjson.import_ms(db, ms_dir)
        assert counts == {
            "workloads": 3,
            "new_workloads": 3,
            "targets": 2,
            "records": 18,
            "ok": 14,
            "run_error": 4,
            "duplicates": 0,
        }
        assert {p.name: p.read_bytes() for p in ms_dir.iterdir()} == original_files  # input untouched
        # Our rows follow the TVM backend's convention.
        fp = fingerprint(matmul(32))
        row = db.workload(fp)
        assert row["compiler"] == "tvm" and row["name"] == "main"
        assert tvm_ffi.structural_equal(tvm.ir.load_json(row["ir"]), matmul(32))
        assert row["meta"]["args_info"] == [["TENSOR", "float32", [32, 32]]] * 3
        assert db.workload(fingerprint(matmul(16)))["meta"] == {}
        t2 = db.find_target(target_info(tvm.target.Target(TARGET_2)))
        t1 = db.find_target(target_info(tvm.target.Target(TARGET_1)))
        assert t1 is not None and t2 is not None and t1 != t2
        outcomes = db.outcomes(row["id"], t2)
        assert {o["source"] for o in outcomes} == {"import"} and {o["kind"] for o in outcomes} == {"trace"}
        assert sorted(o["status"] for o in outcomes) == ["ok"] * 6 + ["run_error"] * 2
        best = db.fastest(db.workload_id(fp), t2)[0]
        assert best.samples == [1e-5, 1.02e-5, 0.99e-5]
        assert db.fastest(db.workload_id(fp), t1)[0].samples == [1e-5 * 7]

        # Importing again adds nothing.
        again = msjson.import_ms(db, (ms_dir / msjson.WORKLOAD_FILE, ms_dir / msjson.RECORD_FILE))
        assert again["records"] == 0 and again["duplicates"] == 18 and again["new_workloads"] == 0
        assert db.stats()["measurements"] == 18

        out = tmp_path / "out"
        assert msjson.export_ms(db, out) == (3, 14)
        assert sorted(p.name for p in out.iterdir()) == [msjson.RECORD_FILE, msjson.WORKLOAD_FILE]
        with pytest.raises(UserError, match="already exists"):
            msjson.export_ms(db, out)
        assert msjson.export_ms(db, out, overwrite=True) == (3, 14)

        # The exported files, read back into ours, are the records we have.
        assert msjson.import_ms(db, out)["duplicates"] == 14
        assert db.stats()["measurements"] == 18

    # Same workloads (structurally equal modules) and the same ok records, traces, times, targets.
    w_in, _ = load(ms_dir)
    w_out, _ = load(out)
    assert len(w_in) == len(w_out) == 3
    for a, b in zip(w_in, w_out):
        assert tvm_ffi.structural_equal(a.mod, b.mod)
    assert ok_keys(out) == ok_keys(ms_dir)
    # In fact byte for byte what MetaSchedule wrote (less the failed records).
    assert (out / msjson.WORKLOAD_FILE).read_bytes() == original_files[msjson.WORKLOAD_FILE]
    ok_lines = [
        ln
        for ln in original_files[msjson.RECORD_FILE].decode().splitlines()
        if "[10000000000]" not in ln and "]],null," not in ln
    ]
    assert sorted((out / msjson.RECORD_FILE).read_text().splitlines()) == sorted(ok_lines)

    # MetaSchedule itself loads the export and ranks it the same way.
    ms_in = ms.database.JSONDatabase(work_dir=str(ms_dir), allow_missing=False)
    ms_out = ms.database.JSONDatabase(work_dir=str(out), allow_missing=False)
    assert len(ms_out) == 14
    for mod in (matmul(32), add_relu(64)):
        assert top(ms_out, mod, 1) == top(ms_in, mod, 1)
        assert top(ms_out, mod, 100) == top(ms_in, mod, 100)
        assert len(top(ms_out, mod, 100)) == 7  # get_top_k ignores targets
        rec = ms_out.query_tuning_record(mod, tvm.target.Target(TARGET_2), workload_name="main")
        assert canonical_json(rec.as_json()[0]) == top(ms_in, mod, 1)[0][0]
        assert ms_out.query_schedule(mod, tvm.target.Target(TARGET_2), workload_name="main") is not None
    assert top(ms_out, matmul(16), 5) == []


def test_export_filters_target_and_wrong_results(ms_dir, tmp_path):
    with SQLiteDatabase(tmp_path / "t.sqlite") as db:
        msjson.import_ms(db, ms_dir)
        t1 = db.find_target(target_info(tvm.target.Target(TARGET_1)))
        t2 = db.find_target(target_info(tvm.target.Target(TARGET_2)))
        assert msjson.export_ms(db, tmp_path / "t1", target_id=t1) == (3, 2)
        assert {json.loads(k[3])["num-cores"] for k in ok_keys(tmp_path / "t1")} == {1}
        with pytest.raises(UserError, match="no target"):
            msjson.export_ms(db, tmp_path / "none", target_id=999)
        # A config whose result was wrong on a target is not exported for that target.
        wid = db.workload(fingerprint(matmul(32)))["id"]
        fastest = db.fastest(wid, t2)[0]
        db.record(wid, "trace", fastest.config, t2, "wrong_result", [1e-6], error="mismatch")
        assert msjson.export_ms(db, tmp_path / "t2", target_id=t2) == (3, 11)
        traces_out = {k[1] for k in ok_keys(tmp_path / "t2")}
        assert canonical_json(fastest.config["trace"]) not in traces_out
        assert db.fastest(wid, t2)[0].config != fastest.config


def _broken(src: Path, dst: Path, which: str, edit) -> Path:
    shutil.copytree(src, dst)
    path = dst / which
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
    return dst


def _bad_trace(lines):
    index, body = json.loads(lines[0])
    body[0][0][0][2] = ["NoSuchBlock", "main"]  # GetSBlock of a block that does not exist
    return [json.dumps([index, body])] + lines[1:]


@pytest.mark.parametrize(
    "case, which, edit, message",
    [
        (
            "json",
            msjson.RECORD_FILE,
            lambda ls: ls[:2] + ["{not json"] + ls[2:],
            r"tuning_record.json:3: .*bad JSON",
        ),
        (
            "index",
            msjson.RECORD_FILE,
            lambda ls: ls + [json.dumps([7, json.loads(ls[0])[1]])],
            "index 7 out of range",
        ),
        ("shape", msjson.RECORD_FILE, lambda ls: ls + ["[1, 2, 3]"], "not a MetaSchedule tuning record"),
        ("trace", msjson.RECORD_FILE, _bad_trace, r"tuning_record.json:1: bad MetaSchedule tuning record"),
        (
            "ir",
            msjson.WORKLOAD_FILE,
            lambda ls: ['["123", "bm90IElS"]'] + ls[1:],
            r"workload.json:1: bad MetaSchedule",
        ),
        ("wshape", msjson.WORKLOAD_FILE, lambda ls: ['{"a": 1}'] + ls[1:], "not a MetaSchedule workload"),
    ],
)
def test_bad_input_is_refused_before_writing(ms_dir, tmp_path, case, which, edit, message):
    bad = _broken(ms_dir, tmp_path / case, which, edit)
    path = tmp_path / "t.sqlite"
    with SQLiteDatabase(path) as db:
        with pytest.raises(UserError, match=message):
            msjson.import_ms(db, bad)
        assert db.stats()["workloads"] == 0 and db.stats()["measurements"] == 0


def test_missing_files(tmp_path):
    with SQLiteDatabase(tmp_path / "t.sqlite") as db:
        with pytest.raises(UserError, match="no such MetaSchedule database file"):
            msjson.import_ms(db, tmp_path / "nowhere")
        (tmp_path / "half").mkdir()
        (tmp_path / "half" / msjson.WORKLOAD_FILE).write_text("")
        with pytest.raises(UserError, match="database_tuning_record.json: no such"):
            msjson.import_ms(db, tmp_path / "half")
