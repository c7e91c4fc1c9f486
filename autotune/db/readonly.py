"""One read-only SQL statement on a tuning database, its rows streamed: what `autotune db
query` runs, and the one place a user's own SQL meets a database file.

The file is opened read-only (an older schema is read through an upgraded copy in memory) and
an SQLite authorizer refuses any statement that would write, so a query can never change a
database, not even that copy. The statement runs through sqlite-utils (`Database.query`), and
rows come back one at a time: a large result is never held whole.

Example::

    for row in query_rows("tuning.sqlite", "SELECT * FROM best_configs WHERE model = :m", {"m": "mlp"}):
        print(row)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autotune.db.records import DatabaseError


class QueryRefused(DatabaseError):
    """A statement that would write, or one that returns no rows, or that SQLite rejects."""


#: What a query may do: read tables and views, call functions, run a recursive CTE, and the
#: savepoint sqlite-utils wraps it in; PRAGMAs only those that read. Everything else (every
#: write, ATTACH, CREATE TEMP ..., a PRAGMA that sets a value) is refused by SQLite itself.
_READ_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_RECURSIVE,
        sqlite3.SQLITE_TRANSACTION,
        sqlite3.SQLITE_SAVEPOINT,
    }
)
_READ_PRAGMAS = frozenset(
    {
        "application_id",
        "collation_list",
        "compile_options",
        "data_version",
        "database_list",
        "encoding",
        "foreign_key_check",
        "foreign_key_list",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "index_info",
        "index_list",
        "index_xinfo",
        "integrity_check",
        "journal_mode",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "quick_check",
        "schema_version",
        "table_info",
        "table_list",
        "table_xinfo",
        "user_version",
    }
)
#: PRAGMAs whose argument names what to read (the others set a value when given one).
_PRAGMAS_OF_A_NAME = frozenset(
    {
        "foreign_key_check",
        "foreign_key_list",
        "index_info",
        "index_list",
        "index_xinfo",
        "table_info",
        "table_list",
        "table_xinfo",
        "integrity_check",
        "quick_check",
    }
)
_WRITES = {
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_ATTACH: "ATTACH",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE",
    sqlite3.SQLITE_ANALYZE: "ANALYZE",
    sqlite3.SQLITE_REINDEX: "REINDEX",
}


def query_rows(path: str | Path, sql: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """The rows of one read-only statement as dicts, streamed; `QueryRefused` (one line) for a
    statement that would write, returns no rows or fails."""
    import sqlite_utils

    from autotune.db import open_db

    refused: list[str] = []

    def authorize(
        action: int, arg1: str | None, arg2: str | None, _db: str | None, _inner: str | None
    ) -> int:
        if action in _READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in _READ_PRAGMAS and (arg2 is None or name in _PRAGMAS_OF_A_NAME):
                return sqlite3.SQLITE_OK
            refused.append(f"PRAGMA {name}" + ("" if arg2 is None else f"={arg2}"))
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
            return sqlite3.SQLITE_IGNORE  # SQLite declaring a table-valued PRAGMA function
        refused.append(_WRITES.get(action, "a statement that is not a read"))
        return sqlite3.SQLITE_DENY

    with open_db(path, readonly=True) as db:
        conn = db.conn
        conn.set_authorizer(authorize)
        store = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        try:
            try:
                rows = store.query(sql, params or None)
            except ValueError as exc:  # sqlite-utils: the statement returns no rows
                raise QueryRefused(
                    "autotune db query only reads: give one statement that returns rows "
                    "(SELECT, WITH, VALUES or a PRAGMA that reads)"
                ) from exc
            yield from rows
        except (sqlite3.Error, sqlite3.Warning) as exc:
            if refused:
                raise QueryRefused(f"autotune db query only reads: {refused[0]} refused") from exc
            lines = str(exc).splitlines()
            raise QueryRefused(f"query failed: {lines[0][:200] if lines else type(exc).__name__}") from exc
