"""A job's Ctrl-C inside C++ (a `native()` section) is recorded, then raised at a safe point."""

from __future__ import annotations

import signal

import pytest

from autotune import interrupts
from autotune.tuning.job import _raise_interrupt


def test_a_signal_inside_native_code_waits_for_a_safe_point():
    interrupts.SIGNALS.clear()
    try:
        with pytest.raises(KeyboardInterrupt):  # outside: at once
            _raise_interrupt(signal.SIGINT, None)
        interrupts.SIGNALS.clear()
        reached = []
        with pytest.raises(KeyboardInterrupt, match="signal 15"):
            with interrupts.native():
                with interrupts.native():
                    _raise_interrupt(signal.SIGTERM, None)  # recorded only
                    reached.append("inner")
                reached.append("outer")  # an inner section's end is no safe point either
                with pytest.raises(KeyboardInterrupt):
                    interrupts.check()  # a callback's safe point
                reached.append("after check")
        assert reached == ["inner", "outer", "after check"]
    finally:
        interrupts.SIGNALS.clear()
    interrupts.check()  # nothing pending: nothing raised
