"""Opening a database file safely and bringing its schema up to date.

Migrations are the numbered `migrations/NNNN_*.sql` files; the applied version is kept in
`meta.schema_version`. A file that is not SQLite, is corrupt or has a newer schema is
refused before anything is written to it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from importlib import resources
from pathlib import Path

from autotune import compare
from autotune.db.records import DatabaseError, parse_samples

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 60_000


def migrations() -> list[tuple[int, str]]:
    """(version, sql) of every migration shipped with the package, in order."""
    out = []
    for entry in resources.files("autotune.db.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), entry.read_text()))
    return sorted(out)


def latest_version() -> int:
    return migrations()[-1][0]


def _check_header(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head and head != SQLITE_MAGIC:
        raise DatabaseError(f"{path}: not an SQLite database file")


def _read_version(conn: sqlite3.Connection, path: Path) -> int:
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path}: unreadable database ({exc})") from exc
    if not tables:
        return 0
    if "meta" not in tables:
        raise DatabaseError(f"{path}: an SQLite file, but not an autotune database")
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        raise DatabaseError(f"{path}: autotune database without a schema version")
    try:
        return int(row[0])
    except ValueError as exc:
        raise DatabaseError(f"{path}: bad schema version {row[0]!r}") from exc


def connect(path: str | os.PathLike, readonly: bool = False) -> sqlite3.Connection:
    """Open (creating if needed, unless readonly) and migrate a database file.

    The file is inspected read-only first, so a refused file is never modified.
    """
    path = Path(path)
    exists = path.exists() and path.stat().st_size > 0
    if path.exists() and path.is_dir():
        raise DatabaseError(f"{path}: is a directory, not a database file")
    if not exists and readonly:
        raise DatabaseError(f"{path}: no such database")
    writable = not exists or (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
    if not writable and not readonly:
        raise DatabaseError(
            f"{path}: read-only (the file or its folder cannot be written): readers can use it, "
            "a writer needs a writable copy"
        )
    # A published read-only file (no -wal/-shm can be made beside it) is opened immutable.
    ro = "ro" if writable else "ro&immutable=1"
    if exists:
        _check_header(path)
        probe = sqlite3.connect(f"file:{path}?mode={ro}", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            version = _read_version(probe, path)
        finally:
            probe.close()
        if version > latest_version():
            raise DatabaseError(
                f"{path}: schema version {version} is newer than this autotune supports "
                f"({latest_version()}); upgrade autotune"
            )
        if readonly and 0 < version < latest_version():
            return _upgraded_copy(path, ro)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    mode = ro if readonly else "rwc"
    conn = sqlite3.connect(
        f"file:{path}?mode={mode}",
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    if not readonly:
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        _migrate(conn, path)
    return conn


def _upgraded_copy(path: Path, ro: str) -> sqlite3.Connection:
    """A reader of a file of an older schema reads an up-to-date copy of it in memory: the
    file itself is never modified by a reader."""
    source = sqlite3.connect(f"file:{path}?mode={ro}", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    try:
        source.backup(copy)
    finally:
        source.close()
    copy.row_factory = sqlite3.Row
    copy.execute("PRAGMA foreign_keys=ON")
    _migrate(copy, path)
    return copy


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. While another process is creating the same file this fails at once with
    'database is locked' (SQLite skips the busy handler to avoid a deadlock), so retry."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _read_version(conn, path)
        for number, sql in migrations():
            if number > version:
                for statement in _statements(sql):
                    conn.execute(statement)
                if number in _BACKFILLS:
                    _BACKFILLS[number](conn)
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (str(number),),
                )
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (f"migrated_{number:04d}_at", str(time.time())),
                )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (the files hold no semicolons inside strings)."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    text = "\n".join(ln.split("--")[0] for ln in lines)
    return [s.strip() for s in text.split(";") if s.strip()]


def set_verdict(
    conn: sqlite3.Connection, candidate: int, default: int, default_s: list[float], tuned_s: list[float]
) -> None:
    """Write a confirmation's verdict on its candidate's row: the default's row it was timed
    with, the paired speedup and whether it won (autotune.compare's rule). The one writer of
    these columns: `record_pair`, the migration to version 4, a merge of a fan-out's shard.
    A pair without usable samples gets none (it never decides a best)."""
    if not default_s or not any(t > 0 for t in tuned_s):
        return
    conn.execute(
        "UPDATE measurements SET paired_with=?, speedup=?, won=? WHERE id=?",
        (
            default,
            compare.paired_speedup(default_s, tuned_s),
            int(compare.wins(default_s, tuned_s)),
            candidate,
        ),
    )


def snapshot(path: str | os.PathLike) -> bytes:
    """A consistent copy of a database file as bytes (SQLite's backup, the WAL included)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "snapshot.sqlite"
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return copy.read_bytes()


def backfill_verdicts(conn: sqlite3.Connection) -> None:
    """Version 4: give every confirmation recorded before it its verdict (`paired_with`,
    `speedup`, `won`), computed from its samples by autotune.compare's rule. A pair was two
    consecutive 'confirm' rows of one workload, target and host: the default's, then the
    candidate's."""
    rows = conn.execute(
        "SELECT m.id, m.target_id, m.host, m.samples, c.workload_id, c.kind FROM configs c"
        " CROSS JOIN measurements m ON m.config_id = c.id"
        " WHERE m.source = 'confirm' AND m.status = 'ok' ORDER BY m.id"
    ).fetchall()
    previous: dict[tuple, tuple] = {}  # (workload, target, host) -> its last confirm row
    for mid, target, host, samples, workload, kind in rows:
        key = (workload, target, host)
        before = previous.get(key)
        previous[key] = (mid, kind, samples)
        if kind == "default" or before is None or before[1] != "default":
            continue
        try:
            default, tuned = parse_samples(before[2]), parse_samples(samples)
        except DatabaseError:
            continue
        set_verdict(conn, mid, before[0], default, tuned)


_BACKFILLS = {4: backfill_verdicts}
