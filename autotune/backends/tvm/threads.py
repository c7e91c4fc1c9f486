"""How many threads TVM's runtime runs parallel loops on, in this process and its workers.

Left alone, TVM's thread pool takes half the logical CPUs on x86 (it assumes two hardware
threads per core): on a machine with 2 cores and no SMT, every tuned kernel ran on one
core while its schedule was parallelized for two (measured here: 104 GFLOP/s on a BERT-base
dense layer, 191-203 with both cores). Tuning and the compile-time loader therefore set the
pool to the target's `num-cores`, unless the user chose with `TVM_NUM_THREADS`.

Where candidates are timed, in the tuning session's runner workers, the idle workers of
TVM's pool sleep at once (`TVM_THREAD_POOL_SPIN_COUNT=0`, the runner's initializer
`no_spin`): kernels tuned that way made the faster models (bert-tiny 0.118-0.133 ms against
0.155-0.160 tuned with spinning workers, two jobs each). The job's own process, where the
tuned model is confirmed and timed end to end beside PyTorch, leaves the spinning as TVM has
it, as the compile-time loader does: that is what users run, and a model of many short
kernels pays for waking sleeping workers at each one (the mlp 0.042-0.047 ms against 0.020).

Spinning workers, TVM's after a parallel kernel and PyTorch's OpenMP threads after a torch
call, take the CPU from whatever runs next on it: PyTorch eager convnet measured 1.54 ms
0.15 s after a tuned TVM sample, 0.66 ms with TVM asleep (TVM's spin outlasts a fixed wait
under contention; clean from 0.5 s). So a sample in this process starts once the other
threads of the process are idle (`settle`: measured, not guessed; about 160 ms after a
parallel TVM kernel, 16 ms after PyTorch).

Example::

    use_cores(int(target.export()["num-cores"]))
    ms.runner.LocalRunner(..., initializer=no_spin)  # its workers' pools sleep when idle
"""

from __future__ import annotations

import os
import threading
import time

ENV = "TVM_NUM_THREADS"
SPIN_ENV = "TVM_THREAD_POOL_SPIN_COUNT"


def no_spin() -> None:
    """Idle TVM workers sleep at once instead of spinning, in a process whose pool has not
    started yet (TVM reads the setting once); a `TVM_THREAD_POOL_SPIN_COUNT` the user set
    wins."""
    os.environ.setdefault(SPIN_ENV, "0")


#: The longest `settle` waits; and its wait where /proc cannot say (not Linux).
SETTLE_MAX_S = 1.0
FALLBACK_S = 0.5
#: Idle = the other threads used under this share of one core over a window of WINDOW_S.
IDLE_SHARE, WINDOW_S = 0.05, 0.005


def _others_cpu_ns() -> int | None:
    """CPU time so far of this process's threads other than the calling one (Linux's
    /proc/self/task/*/schedstat), None where /proc does not say."""
    me = str(threading.get_native_id())
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    total = 0
    for tid in tasks:
        if tid == me:
            continue
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that just ended
            continue
    return total


def settle(max_s: float = SETTLE_MAX_S) -> float:
    """Wait until the other threads of this process are idle (a thread pool that spins after
    its last task: TVM's, PyTorch's OpenMP), at most `max_s`: before timing something on
    the same cores. Returns the seconds waited."""
    t0 = time.perf_counter()
    last = _others_cpu_ns()
    if last is None:
        time.sleep(min(FALLBACK_S, max_s))
        return time.perf_counter() - t0
    while time.perf_counter() - t0 < max_s:
        time.sleep(WINDOW_S)
        now = _others_cpu_ns() or 0
        if now - last < IDLE_SHARE * WINDOW_S * 1e9:
            break
        last = now
    return time.perf_counter() - t0


def use_cores(cores: int) -> int:
    """Run TVM's parallel loops on `cores` threads here and in worker processes started
    from now on (they inherit the environment); a `TVM_NUM_THREADS` the user set wins.
    Returns the thread count in effect."""
    import tvm

    chosen = os.environ.get(ENV, "").strip()
    if chosen.isdigit() and int(chosen) > 0:
        cores = int(chosen)
    else:
        os.environ[ENV] = str(max(1, int(cores)))
    tvm.get_global_func("runtime.config_threadpool")(0, max(1, int(cores)))
    return max(1, int(cores))
