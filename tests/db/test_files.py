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
