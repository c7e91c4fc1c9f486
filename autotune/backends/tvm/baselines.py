"""What a TVM model's users would run instead of the tuned build: its own PyTorch module.

- ``"torch"``: PyTorch eager, on the model's example inputs, torch using the target's
  cores (``torch.set_num_threads(num-cores)``, restored afterwards);
- ``"torch.compile"``: ``torch.compile`` (inductor, CPU) of the same module. Its first call
  compiles; that compile is bounded (`COMPILE_TIMEOUT_S`, where this is the main thread),
  and a compile that fails or runs out of time makes the baseline 'unavailable', with why.

Each baseline is warmed up, its outputs are checked against TVM's default build
(`compare.mismatch`), and it is timed interleaved with the tuned build, round by round
(`compare.interleaved`): its speedup is the median of the paired ratios. A sample of it is
taken the way TVM's timer takes one of the tuned build (`_timer`). Two thread pools share
the CPU and each spins after its last call (OpenMP's after a torch call, TVM's after a
parallel kernel: TVM's default, which the job's process keeps, see threads.py), so every
sample, of either side, starts once the process's other threads are idle
(`threads.settle`): neither is timed in the other's wake. A baseline runs all its rounds
(no early stop once the winner is clear: the figure quoted is the magnitude). On this
project's shared 2-core host PyTorch eager has slow phases of seconds that the tuned build
barely feels (eager convnet 0.62-0.9 ms, at times 1.6-2.1 ms for several samples in a row,
with no TVM in the process), so three rounds could quote a 2-3x inflated speedup; the
report shows the ratios' quartiles beside the median (`compare.paired_spread`).

Example::

    out = measure(m.module, m.example_inputs, inputs, default_ex, tuned_ex, cores=8, rounds=10,
                  names=["torch", "torch.compile"])
    print(out["torch"].speedup)      # > 1: the tuned build is faster than PyTorch eager
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from autotune import compare
from autotune.backends.base import BaselineResult
from autotune.backends.tvm.threads import settle

#: The longest torch.compile may take to compile a model (its first call), seconds.
COMPILE_TIMEOUT_S = 180.0
#: Each sample times back-to-back calls for at least this long (TVM's `time_vm` uses 50 ms).
MIN_MS = 50.0


class CompileTimeout(Exception):
    """torch.compile did not compile the model within its bound."""


def version(name: str) -> str:
    """What a baseline's numbers are valid for: the torch version (and the compiler)."""
    import torch

    return f"torch {torch.__version__}" + (" inductor" if name == "torch.compile" else "")


def measure(
    module: Any,
    torch_inputs: Sequence[Any],
    inputs: Sequence[np.ndarray],
    default_ex: Any,
    tuned_ex: Any,
    cores: int,
    rounds: int,
    names: Sequence[str],
    compile_timeout_s: float = COMPILE_TIMEOUT_S,
) -> dict[str, BaselineResult]:
    """The named baselines (of "torch", "torch.compile") of `module` against the tuned build."""
    import torch

    from autotune.backends.tvm import importer
    from autotune.backends.tvm import measure as tvm_measure

    reference = importer.run(default_ex, inputs)
    tuned = tvm_measure.time_vm(tuned_ex, inputs)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(cores)))
    args = tuple(torch_inputs)
    out: dict[str, BaselineResult] = {}
    try:
        for name in names:
            try:
                out[name] = _one(name, module, args, reference, tuned, rounds, compile_timeout_s)
            except Exception as exc:  # a baseline that breaks while timed fails alone, never the model
                out[name] = BaselineResult("unavailable", error=_one_line(exc), version=version(name))
    finally:
        torch.set_num_threads(threads)
    return out


def _one(
    name: str,
    module: Any,
    args: tuple[Any, ...],
    reference: list[np.ndarray],
    tuned: Callable[[], float],
    rounds: int,
    compile_timeout_s: float,
) -> BaselineResult:
    import torch

    ver = version(name)
    if name == "torch":
        return _timed(module, args, reference, tuned, rounds, ver, None)
    if name != "torch.compile":
        return BaselineResult("unavailable", error=f"no baseline named {name!r}", version=ver)
    t0 = time.perf_counter()
    try:
        try:
            fn = torch.compile(module, backend="inductor")
            with bounded(compile_timeout_s), torch.no_grad():
                fn(*args)  # the first call compiles
        except Exception as exc:  # a model this backend cannot compile, or out of time
            timed_out = _timed_out(exc)
            why = f"compile took over {compile_timeout_s:g} s" if timed_out else _one_line(exc)
            return BaselineResult("unavailable", error=why, version=ver)
        setup_s = time.perf_counter() - t0
        if setup_s >= compile_timeout_s:  # the timeout was swallowed (an eager fallback)
            why = f"compile took over {compile_timeout_s:g} s"
            return BaselineResult("unavailable", error=why, version=ver)
        return _timed(fn, args, reference, tuned, rounds, ver, setup_s)
    finally:
        # Forget the compiled code: models of one class share their `forward`, and dynamo
        # stops compiling a code object after a few recompiles (it would run eager, silently).
        torch._dynamo.reset()


def _timed(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    reference: list[np.ndarray],
    tuned: Callable[[], float],
    rounds: int,
    ver: str,
    setup_s: float | None,
) -> BaselineResult:
    """Outputs checked, then timed interleaved with the tuned build."""
    import torch

    try:
        with torch.no_grad():
            got = _numpy(fn(*args))
            fn(*args)  # warm-up
    except Exception as exc:  # e.g. an input the module refuses
        return BaselineResult("unavailable", error=_one_line(exc), version=ver, setup_s=setup_s)
    wrong = compare.mismatch(got, reference)
    if wrong:
        why = f"outputs differ from TVM's default build: {wrong}"
        return BaselineResult("wrong_result", error=why, version=ver, setup_s=setup_s)
    samples, tuned_samples = compare.interleaved(
        _timer(fn, args), _after_settling(tuned), rounds, early_stop=False
    )
    return BaselineResult("ok", samples, tuned_samples, version=ver, setup_s=setup_s)


def _timer(fn: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[], float]:
    """One sample per call, as TVM's `time_evaluator(number=1, repeat=1, min_repeat_ms=MIN_MS)`
    takes one of the tuned build: batches of back-to-back calls, growing until one lasts
    MIN_MS; that last batch's mean is the sample (the shorter ones absorb the handover of
    the CPU from one thread pool to the other)."""
    import torch

    def sample() -> float:
        settle()
        number, ms = 1, 0.0
        with torch.no_grad():
            while True:
                if ms > 0:
                    number = max(int(MIN_MS / (ms / number)) + 1, int(number * 1.618))
                t0 = time.perf_counter()
                for _ in range(number):
                    fn(*args)
                ms = (time.perf_counter() - t0) * 1e3
                if ms >= MIN_MS:
                    return ms / 1e3 / number

    return sample


def _after_settling(timer: Callable[[], float]) -> Callable[[], float]:
    """`timer`, each sample taken once the process's other threads are idle."""

    def sample() -> float:
        settle()
        return timer()

    return sample


def _numpy(value: Any) -> list[np.ndarray]:
    """A module's (nested) outputs as numpy arrays, in order."""
    import torch
    from torch.utils._pytree import tree_leaves

    return [t.detach().cpu().numpy() for t in tree_leaves(value) if isinstance(t, torch.Tensor)]


def _timed_out(exc: BaseException | None) -> bool:
    while exc is not None:  # torch wraps what its backend raised
        if isinstance(exc, CompileTimeout):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]


@contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Raise CompileTimeout in the main thread after `seconds` (SIGALRM). An alarm set before
    (a test's timeout) that is due sooner stays in charge; one due later is set again after.
    Elsewhere than the main thread, nothing is bounded."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    previous = signal.getsignal(signal.SIGALRM)
    delay, interval = signal.getitimer(signal.ITIMER_REAL)
    if previous is None or (delay and delay <= seconds):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise CompileTimeout(f"took over {seconds:g} s")

    start = time.monotonic()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if delay:
            signal.setitimer(signal.ITIMER_REAL, max(1e-3, delay - (time.monotonic() - start)), interval)
