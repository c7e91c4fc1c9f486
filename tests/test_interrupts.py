"""Ctrl-C in a job's span (`interrupts.handled()`): raised at once outside C++, recorded
inside a `native()` section and raised at a safe point, and forgotten when the span ends."""

from __future__ import annotations

import os
import signal

import pytest

from autotune import interrupts


def _send(signum: int) -> None:
    """Deliver `signum` to this process; Python runs the handler before the next bytecode."""
    os.kill(os.getpid(), signum)


def test_a_signal_inside_native_code_waits_for_a_safe_point():
    before = signal.getsignal(signal.SIGTERM)
    reached = []
    with interrupts.handled():
        with pytest.raises(KeyboardInterrupt, match="signal 2"):  # outside native code: at once
            _send(signal.SIGINT)
        interrupts.SIGNALS.clear()
        with pytest.raises(KeyboardInterrupt, match="signal 15"):
            with interrupts.native():
                with interrupts.native():
                    _send(signal.SIGTERM)  # recorded only
                    reached.append("inner")
                reached.append("outer")  # an inner section's end is no safe point either
                with pytest.raises(KeyboardInterrupt):
                    interrupts.check()  # a callback's safe point
                reached.append("after check")
        assert reached == ["inner", "outer", "after check"]
        assert interrupts.SIGNALS == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handlers are back


def test_an_interrupted_span_leaves_nothing_pending_for_what_runs_next():
    with pytest.raises(KeyboardInterrupt):
        with interrupts.handled():
            with interrupts.native():
                _send(signal.SIGINT)
    assert interrupts.SIGNALS == []
    with interrupts.native():  # a search run next in the same process is not stopped
        pass
    interrupts.check()
