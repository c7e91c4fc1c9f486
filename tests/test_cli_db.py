"""`autotune db ...` run as a real command: output, exit codes, and bad input never harming a file."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from autotune.db import SQLiteDatabase, TargetInfo
from autotune.db.schema import latest_version

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "AUTOTUNE_DB"}
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "autotune.cli.main", "db", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        env=full_env,
        cwd=ROOT,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_refused(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode != 0, res.stdout
    assert "Traceback" not in res.stdout + res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autotune: error: "), res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def make_db(path: Path, tag: str = "a", fast: float = 2e-3) -> Path:
    with SQLiteDatabase(path) as db:
        t = db.target_id(TargetInfo("llvm", "test cpu", ("avx2",), "tvm", "0.27.0"))
        w = db.add_workload("tvm:sh1:shared", "tvm", "matmul", "{}")
        db.record(w, "trace", {"trace": [1]}, t, "ok", [fast, fast * 1.1])
        db.record(w, "trace", {"trace": [2]}, t, "build_error", error="boom")
        db.record(w, "trace", {"trace": [3]}, t, "timeout")
        db.record(w, "default", {}, t, "ok", [5e-3], source="default")
        own = db.add_workload(f"tvm:sh1:{tag}", "tvm", tag, "{}")
        db.record(own, "trace", {"trace": [4]}, t, "wrong_result", [1e-3], error="mismatch")
    return path


# --- stats / check ----------------------------------------------------------------
def test_stats_text_and_json(tmp_path):
    path = make_db(tmp_path / "a.sqlite")
    res = cli("stats", "--db", path)
    assert res.returncode == 0, res.stderr
    assert f"schema version {latest_version()}" in res.stdout and "measurements: 5" in res.stdout
    assert "ok 2" in res.stdout and "test cpu" in res.stdout
    res = cli("stats", "--json", "--db", path)
    info = json.loads(res.stdout)
    assert info["tables"]["measurements"] == 5 and info["tables"]["workloads"] == 2
    assert info["measurements"] == {
        "ok": 2,
        "build_error": 1,
        "run_error": 0,
        "timeout": 1,
        "wrong_result": 1,
    }
    assert [(t["device_model"], t["measurements"]) for t in info["targets"]] == [("test cpu", 5)]
    assert info["schema_version"] == latest_version()


def test_stats_imports_neither_tvm_nor_torch(tmp_path):
    path = make_db(tmp_path / "a.sqlite")
    code = (
        "import sys; from autotune.cli.main import main; "
        "rc = main(['db', 'stats', '--db', sys.argv[1]]); "
        "heavy = [m for m in ('tvm', 'torch', 'jax') if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(rc or bool(heavy))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "HEAVY []" in res.stdout


def test_default_path_from_environment(tmp_path):
    path = make_db(tmp_path / "env.sqlite")
    res = cli("stats", "--json", env={"AUTOTUNE_DB": str(path)})
    assert res.returncode == 0 and json.loads(res.stdout)["path"] == str(path)


def test_check(tmp_path):
    path = make_db(tmp_path / "a.sqlite")
    res = cli("check", "--db", path)
    assert res.returncode == 0 and "ok" in res.stdout
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE measurements SET samples='not json' WHERE id=1")
        conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    before = digest(path)
    res = cli("check", "--db", path)
    assert res.returncode == 1
    assert "measurement 1" in res.stdout and "samples" in res.stdout
    assert "Traceback" not in res.stderr
    assert digest(path) == before


# --- merge ------------------------------------------------------------------------
def test_merge_twice_adds_nothing(tmp_path):
    a = make_db(tmp_path / "a.sqlite", "a", fast=2e-3)
    b = make_db(tmp_path / "b.sqlite", "b", fast=1e-3)
    b_before = digest(b)
    res = cli("merge", b, "--db", a)
    assert res.returncode == 0, res.stderr
    assert "measurements 5" in res.stdout and "workloads 1" in res.stdout
    assert digest(b) == b_before  # the other database is only read
    stats = json.loads(cli("stats", "--json", "--db", a).stdout)
    assert stats["tables"]["measurements"] == 10 and stats["tables"]["workloads"] == 3
    assert stats["tables"]["targets"] == 1 and stats["tables"]["configs"] == 6
    res = cli("merge", b, "--db", a)
    assert res.returncode == 0 and "added nothing" in res.stdout
    assert json.loads(cli("stats", "--json", "--db", a).stdout) == stats
    with SQLiteDatabase(a, readonly=True) as db:
        t = db.targets()[0][0]
        assert db.fastest(db.workload_id("tvm:sh1:shared"), t)[0].median == pytest.approx(
            1.05e-3
        )  # b's faster run
    # Into a new file: a copy.
    res = cli("merge", a, "--db", tmp_path / "new.sqlite")
    assert res.returncode == 0
    copied = json.loads(cli("stats", "--json", "--db", tmp_path / "new.sqlite").stdout)
    assert copied["tables"] == stats["tables"]
    assert_refused(cli("merge", a, "--db", a), "itself")


# --- export / import (real TVM objects) -------------------------------------------
@pytest.fixture(scope="module")
def ms_dir(tmp_path_factory) -> Path:
    """A small MetaSchedule JSON database written by MetaSchedule: one matmul, three traces."""
    tvm = pytest.importorskip("tvm")
    from tvm import te
    from tvm.s_tir import Schedule
    from tvm.s_tir import meta_schedule as ms

    d = tmp_path_factory.mktemp("ms")
    a, b = te.placeholder((16, 16), name="A"), te.placeholder((16, 16), name="B")
    k = te.reduce_axis((0, 16), name="k")
    c = te.compute((16, 16), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    mod = tvm.IRModule({"main": te.create_prim_func([a, b, c]).with_attr("global_symbol", "main")})
    db = ms.database.JSONDatabase(work_dir=str(d), allow_missing=True)
    wl = db.commit_workload(mod)
    target = tvm.target.Target({"kind": "llvm", "num-cores": 1})
    for n, secs in enumerate(([3e-6, 3.1e-6], [2e-6, 2.2e-6], [1e10])):
        sch = Schedule(mod, seed=n + 1)
        i, j, kk = sch.get_loops(sch.get_sblock("C"))
        sch.split(j, sch.sample_perfect_tile(j, n=2, max_innermost_factor=8))
        db.commit_tuning_record(ms.database.TuningRecord(sch.trace, wl, list(secs), target))
    return d


def test_export_and_import(tmp_path, ms_dir):
    path = tmp_path / "t.sqlite"
    res = cli("import", "--format", "metaschedule", ms_dir, "--db", path)
    assert res.returncode == 0, res.stderr
    assert "imported 3 records (2 ok, 1 failed; 0 already present) of 1 workloads (1 new)" in res.stdout
    info = json.loads(cli("stats", "--json", "--db", path).stdout)
    assert info["measurements"]["ok"] == 2 and info["measurements"]["run_error"] == 1
    tid = info["targets"][0]["id"]

    before = digest(path)
    res = cli("export", "--format", "metaschedule", tmp_path / "out", "--target-id", tid, "--db", path)
    assert res.returncode == 0, res.stderr
    assert "exported 1 workloads and 2 records" in res.stdout
    assert digest(path) == before  # export only reads
    lines = (tmp_path / "out" / "database_tuning_record.json").read_text().splitlines()
    assert sorted(json.loads(ln)[1][1] for ln in lines) == [[2e-6, 2.2e-6], [3e-6, 3.1e-6]]
    assert_refused(cli("export", tmp_path / "out", "--db", path), "already exists")
    assert cli("export", tmp_path / "out", "--force", "--db", path).returncode == 0
    assert_refused(cli("export", tmp_path / "o2", "--target-id", "99", "--db", path), "no target with id 99")


@pytest.mark.parametrize("broken", ["missing", "empty", "garbage"])
def test_import_of_bad_metaschedule_dir(tmp_path, ms_dir, broken):
    src = tmp_path / "ms"
    if broken != "missing":
        src.mkdir()
        (src / "database_workload.json").write_bytes((ms_dir / "database_workload.json").read_bytes())
        (src / "database_tuning_record.json").write_text("" if broken == "empty" else "[0, [1, 2]]\n")
        if broken == "empty":
            (src / "database_workload.json").unlink()
    existing = make_db(tmp_path / "a.sqlite")
    before = digest(existing)
    assert_refused(cli("import", "--format", "metaschedule", src, "--db", existing))
    assert digest(existing) == before
    if broken != "garbage":  # (each TVM-importing run costs ~4 s)
        assert_refused(cli("import", "--format", "metaschedule", src, "--db", tmp_path / "new.sqlite"))
        assert not (tmp_path / "new.sqlite").exists()


# --- bad database files -----------------------------------------------------------
def bad_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.sqlite"
    if kind == "text":
        path.write_text("not a database\n" * 100)
    elif kind == "truncated":
        make_db(path)
        with SQLiteDatabase(path) as db:  # grow it past a few pages
            db.add_workload("tvm:sh1:big", "tvm", "big", "x" * 50_000)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "newer":
        make_db(path)
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
    return path


COMMANDS = [
    ("stats",),
    ("stats", "--json"),
    ("check",),
    ("export", "{out}"),
    ("import", "{ms}"),
    ("merge", "{good}"),
]


@pytest.mark.parametrize(
    "kind, message",
    [("text", "not an SQLite database"), ("truncated", "malformed"), ("newer", "schema version 999")],
)
def test_bad_database_file_is_refused_and_untouched(tmp_path, kind, message):
    path = bad_file(tmp_path, kind)
    good = make_db(tmp_path / "good.sqlite")
    before, good_before = digest(path), digest(good)
    # A missing MetaSchedule dir: the bad database must be refused before that is even looked at.
    subs = {"out": str(tmp_path / "out"), "ms": str(tmp_path / "no-ms"), "good": str(good)}
    for command in COMMANDS:
        args = [a.format(**subs) for a in command]
        assert_refused(cli(*args, "--db", path), message)
        assert digest(path) == before, command
    # As the other side of a merge.
    assert_refused(cli("merge", path, "--db", good), message)
    assert digest(path) == before and digest(good) == good_before
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [c for c in COMMANDS if c[0] != "import"])
def test_read_commands_never_create_a_database(tmp_path, command):
    missing = tmp_path / "sub" / "missing.sqlite"
    subs = {"out": str(tmp_path / "out"), "ms": "", "good": str(missing)}
    args = [a.format(**subs) for a in command]
    db = missing if command[0] != "merge" else make_db(tmp_path / "a.sqlite")
    assert_refused(cli(*args, "--db", db), "no such database")
    assert not missing.exists() and not missing.parent.exists()
    assert not (tmp_path / "out").exists()
