"""Ctrl-C and SIGTERM in a job: raised in Python, never through C++ that cannot pass it on.

A job's signal handler raises KeyboardInterrupt wherever Python runs next. Inside
MetaSchedule's tuning loop that can be Python code called from C++ that cannot pass an
exception on, and the process ends in std::terminate (1 in 8 Ctrl-Cs under load, exit -11
instead of 130, the job never recorded as interrupted). So inside a `native()` section the
handler only records the signal; our measure callback there raises it (`check()`), where
MetaSchedule hands the error back to its caller, and the end of the section raises it at the
latest. `handled()` is a job's span: its handler is installed, and when the span ends the
previous handlers are back and nothing is left recorded for whatever runs next in the process.

Example::

    with interrupts.handled():      # Ctrl-C raises KeyboardInterrupt here...
        with interrupts.native():   # ...but only records it in here
            ms.tune_tasks(...)      # whose measure callback calls interrupts.check()
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Signals received during the current `handled()` span (the first is the one reported).
SIGNALS: list[int] = []
_depth = 0


def deferred() -> bool:
    """True inside a `native()` section: a signal is recorded, not raised."""
    return _depth > 0


def check(cause: BaseException | None = None) -> None:
    """Raise KeyboardInterrupt when a signal was received, whatever became of the first one
    (a safe point: a callback, a section's end, between models)."""
    if SIGNALS:
        raise KeyboardInterrupt(f"signal {SIGNALS[0]}") from cause


@contextmanager
def native() -> Iterator[None]:
    """A call into C++ that calls back into Python: signals wait for `check()` or its end."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            check()


def _record_or_raise(signum: int, frame: Any) -> None:
    """The handler of a `handled()` span: record; raise unless inside C++ (`native()`)."""
    SIGNALS.append(signum)
    if not deferred():
        raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def handled(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """A job's span: `signals` raise KeyboardInterrupt (recorded only inside `native()`).
    At its end the previous handlers are back and the record is empty, so a search run
    next in the same process is not stopped by this span's Ctrl-C."""
    SIGNALS.clear()
    previous = {sig: signal.signal(sig, _record_or_raise) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        SIGNALS.clear()
