"""The shared tuning database: schema, access and the best-config queries.

Example::

    from autotune.db import open_db
    with open_db("tuning.sqlite") as db:
        print(db.stats())
"""

from __future__ import annotations

import os
from pathlib import Path

from autotune.db.base import TuningDatabase, create, kinds, register
from autotune.db.recorder import Recorder
from autotune.db.records import BestRecord, Confirmation, DatabaseError, TargetInfo
from autotune.db.sqlite import SQLiteDatabase

__all__ = [
    "BestRecord",
    "Confirmation",
    "DatabaseError",
    "Recorder",
    "SQLiteDatabase",
    "TargetInfo",
    "TuningDatabase",
    "create",
    "default_path",
    "kinds",
    "open_db",
    "register",
]


def default_path() -> Path:
    """The embedded default database: $AUTOTUNE_DB, else ~/.local/share/autotune/tuning.sqlite."""
    env = os.environ.get("AUTOTUNE_DB")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "autotune" / "tuning.sqlite"


def open_db(path: str | os.PathLike | None = None, readonly: bool = False) -> SQLiteDatabase:
    """Open (and create or migrate) the SQLite database at path, or the default one."""
    return SQLiteDatabase(path or default_path(), readonly=readonly)
