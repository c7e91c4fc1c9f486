"""Importing MetaSchedule's tensor intrinsics in ~3 s instead of ~23 s.

`TuneContext` imports `tvm.s_tir.tensor_intrin`, which parses a few hundred TVMScript
functions; each parse calls `inspect.stack()`, and with torch loaded every lookup of a
frame's module rescans all of `sys.modules` (frames of frozen importlib files are never
cached). During that one import we memoise `inspect.getmodule` per file name; the
original is restored afterwards. Measured here: 23.6 s -> 3.1 s for the import.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any


def import_tensor_intrin() -> None:
    """Import `tvm.s_tir.tensor_intrin` (once per process) with a memoised getmodule."""
    if "tvm.s_tir.tensor_intrin" in sys.modules:
        return
    original = inspect.getmodule
    cache: dict[str, Any] = {}

    def getmodule(obj: Any, _filename: str | None = None) -> Any:
        if inspect.isframe(obj) or inspect.iscode(obj) or inspect.istraceback(obj):
            code = (
                obj if inspect.iscode(obj) else (obj.f_code if inspect.isframe(obj) else obj.tb_frame.f_code)
            )
            key = _filename or code.co_filename
            if key not in cache:
                cache[key] = original(obj, _filename)
            return cache[key]
        return original(obj, _filename)

    inspect.getmodule = getmodule  # type: ignore[assignment]
    try:
        import tvm.s_tir.tensor_intrin  # noqa: F401
    finally:
        inspect.getmodule = original  # type: ignore[assignment]
