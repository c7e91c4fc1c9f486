"""Opening database files: refusing what is not ours (untouched), read-only opens, WAL mode."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from autotune.db import DatabaseError, SQLiteDatabase, TargetInfo, open_db
from autotune.db.schema import latest_version

pytestmark = pytest.mark.timeout(300)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def filled(path: Path, n: int = 40) -> Path:
    """A real database with enough rows to span many pages, checkpointed into the main file."""
    with open_db(path) as db:
        t = db.target_id(TargetInfo("llvm", "cpu", ("avx2",), "tvm", "0.27.0"))
        for i in range(n):
            w = db.add_workload(f"tvm:sh1:{i:04x}", "tvm", f"w{i}", "x" * 2000)
            for j in range(4):
                db.record(w, "trace", {"trace": [i, j] * 40}, t, "ok", [1e-3 * (j + 1)])
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


def refused(path: Path, readonly: bool) -> str:
    before = digest(path)
    with pytest.raises(DatabaseError) as info:
        SQLiteDatabase(path, readonly=readonly)
    assert digest(path) == before
    return str(info.value)


@pytest.mark.parametrize("readonly", [False, True])
def test_refuses_a_non_sqlite_file(tmp_path, readonly):
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n" * 50)
    assert "not an SQLite database" in refused(path, readonly)


@pytest.mark.parametrize("readonly", [False, True])
def test_refuses_an_sqlite_file_of_someone_else(tmp_path, readonly):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people(name TEXT)")
    conn.commit()
    conn.close()
    assert "not an autotune database" in refused(path, readonly)


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_refuses_a_corrupted_file(tmp_path, readonly, damage):
    path = filled(tmp_path / "t.sqlite")
    data = path.read_bytes()
    assert len(data) > 64 * 1024
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:  # header intact, the schema pages overwritten
        data = data[:100] + bytes(range(256)) * 40 + data[100 + 256 * 40 :]
    path.write_bytes(data)
    assert "malformed" in refused(path, readonly)


@pytest.mark.parametrize("readonly", [False, True])
def test_refuses_a_newer_schema(tmp_path, readonly):
    path = tmp_path / "new.sqlite"
    SQLiteDatabase(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    conn.commit()
    conn.execute("PRAGMA journal_mode=DELETE")  # everything in the main file
    conn.close()
    message = refused(path, readonly)
    assert "999" in message and "newer" in message


def test_readonly_never_creates(tmp_path):
    path = tmp_path / "sub" / "missing.sqlite"
    with pytest.raises(DatabaseError, match="no such database"):
        SQLiteDatabase(path, readonly=True)
    assert not path.exists() and not path.parent.exists()


def test_readonly_cannot_write(tmp_path):
    path = filled(tmp_path / "ro.sqlite", n=2)
    before = digest(path)
    with SQLiteDatabase(path, readonly=True) as db:
        assert db.stats()["measurements"] == 8 and db.check() == []
        with pytest.raises(DatabaseError, match="read-only"):
            db.add_workload("tvm:sh1:new", "tvm", "new", "{}")
    assert digest(path) == before


def test_refuses_a_directory(tmp_path):
    with pytest.raises(DatabaseError, match="directory"):
        SQLiteDatabase(tmp_path)


def test_wal_mode_and_schema_version(tmp_path):
    path = tmp_path / "wal.sqlite"
    with SQLiteDatabase(path) as db:
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert db.schema_version == latest_version()
    conn = sqlite3.connect(path)  # persistent: the file itself is in WAL mode
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_reopen_keeps_data_and_does_not_migrate_again(tmp_path):
    path = filled(tmp_path / "r.sqlite", n=3)
    with SQLiteDatabase(path) as db:
        stamp = db.conn.execute("SELECT value FROM meta WHERE key='migrated_0001_at'").fetchone()[0]
    with SQLiteDatabase(path) as db:
        assert db.stats()["measurements"] == 12
        assert db.conn.execute("SELECT value FROM meta WHERE key='migrated_0001_at'").fetchone()[0] == stamp


def _v2_file(path: Path, monkeypatch) -> Path:
    """A real database file of schema version 2 (as autotune wrote it before baselines)."""
    from autotune.db import schema

    shipped = schema.migrations()
    with monkeypatch.context() as m:
        m.setattr(schema, "migrations", lambda: [(n, sql) for n, sql in shipped if n <= 2])
        filled(path, n=3)
        with open_db(path) as db:
            assert db.schema_version == 2
            t = db.find_target(TargetInfo("llvm", "cpu", ("avx2",), "tvm", "0.27.0"))
            mid = db.set_model("mlp", "tvm", "mlp", [(db.workload_id("tvm:sh1:0000"), 1)])
            db.add_model_measurement(mid, t, [1e-3], [2e-3], 2.0)
    return path


def test_a_v2_file_reads_as_current_and_migrates_keeping_its_data(tmp_path, monkeypatch):
    path = _v2_file(tmp_path / "v2.sqlite", monkeypatch)
    t = TargetInfo("llvm", "cpu", ("avx2",), "tvm", "0.27.0")
    with SQLiteDatabase(path, readonly=True) as db:  # read-only: an up-to-date copy in memory
        before = sorted((table, sorted(row.items())) for table, row in db.dump())
        assert db.schema_version == latest_version() and db.stats()["baselines"] == 0 and db.check() == []
        assert db.baselines(db.model("mlp")["id"], db.find_target(t)) == {}
        with open_db(tmp_path / "v3.sqlite") as new:
            assert new.merge_from(db)["measurements"] == 12  # a current file merges a v2 one
    raw = sqlite3.connect(path)  # the file itself was never modified by the reader
    assert raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    raw.close()
    assert latest_version() == 4
    with SQLiteDatabase(path) as db:
        assert db.schema_version == 4
        assert db.conn.execute("SELECT value FROM meta WHERE key='migrated_0003_at'").fetchone()
        assert sorted((table, sorted(row.items())) for table, row in db.dump()) == before
        mid, tid = db.model("mlp")["id"], db.find_target(t)
        assert db.latest_model_measurement(mid, tid)["speedup"] == 2.0
        db.add_baseline(mid, tid, "torch", "ok", [3e-3], [1e-3], version="torch 2.1")
        assert db.baselines(mid, tid)["torch"]["speedup"] == pytest.approx(3.0) and db.check() == []


def test_confirmations_of_a_v3_file_get_their_verdict_when_it_is_migrated(tmp_path, monkeypatch):
    """Pairs recorded before verdicts were stored (two 'confirm' rows) keep deciding the best."""
    from autotune.db import schema

    path = tmp_path / "v3.sqlite"
    shipped = schema.migrations()
    t = TargetInfo("llvm", "cpu", ("avx2",), "tvm", "0.27.0")
    with monkeypatch.context() as m:
        m.setattr(schema, "migrations", lambda: [(n, sql) for n, sql in shipped if n <= 3])
        with open_db(path) as db:
            tid, won, lost = (
                db.target_id(t),
                db.add_workload("a", "tvm", "a", "{}"),
                db.add_workload("b", "tvm", "b", "{}"),
            )
            for wid, tuned in ((won, 1e-3), (lost, 3e-3)):  # as autotune 0.1 wrote them
                db.conn.execute("BEGIN")
                for kind, config, samples in (("default", {}, [2e-3] * 3), ("trace", {"t": 1}, [tuned] * 3)):
                    db._insert(db.conn, wid, kind, config, tid, "ok", samples, "", None, "confirm")
                db.conn.execute("COMMIT")
            assert db.schema_version == 3
    with SQLiteDatabase(path, readonly=True) as db:  # a reader sees the verdicts (in its copy)
        assert db.best(won, tid).speedup == pytest.approx(2.0) and db.best(lost, tid) is None
    with SQLiteDatabase(path) as db:
        assert db.schema_version == latest_version()
        assert db.best(won, tid).config == {"t": 1} and db.best(lost, tid) is None
        assert db.confirmation(lost, tid).speedup == pytest.approx(2 / 3)
        rows = db.conn.execute(
            "SELECT workload, speedup, won FROM confirmations ORDER BY workload"
        ).fetchall()
        assert [tuple(r) for r in rows] == [("a", 2.0, 1), ("b", pytest.approx(2 / 3), 0)]
