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
Spinning TVM workers starve PyTorch's OpenMP threads for 50-100 ms after a parallel kernel,
so PyTorch is timed after that (`baselines.TORCH_HANDOVER_S`).

Example::

    use_cores(int(target.export()["num-cores"]))
    ms.runner.LocalRunner(..., initializer=no_spin)  # its workers' pools sleep when idle
"""

from __future__ import annotations

import os
import time

ENV = "TVM_NUM_THREADS"
SPIN_ENV = "TVM_THREAD_POOL_SPIN_COUNT"


def no_spin() -> None:
    """Idle TVM workers sleep at once instead of spinning, in a process whose pool has not
    started yet (TVM reads the setting once); a `TVM_THREAD_POOL_SPIN_COUNT` the user set
    wins."""
    os.environ.setdefault(SPIN_ENV, "0")


#: How long TVM's idle workers spin after a parallel kernel, at most (50-100 ms measured here).
SPIN_S = 0.15


def settle() -> None:
    """Wait until this process's TVM workers stop spinning: before timing elsewhere on the
    same cores (a runner worker, PyTorch) right after a kernel ran here."""
    time.sleep(SPIN_S)


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
