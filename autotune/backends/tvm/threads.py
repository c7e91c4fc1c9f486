"""How many threads TVM's runtime runs parallel loops on, in this process and its workers.

Left alone, TVM's thread pool takes half the logical CPUs on x86 (it assumes two hardware
threads per core): on a machine with 2 cores and no SMT, every tuned kernel ran on one
core while its schedule was parallelized for two (measured here: 104 GFLOP/s on a BERT-base
dense layer, 191-203 with both cores). Tuning and the compile-time loader therefore set the
pool to the target's `num-cores`, unless the user chose with `TVM_NUM_THREADS`.

A tuning session also turns off the spinning of TVM's idle workers
(`TVM_THREAD_POOL_SPIN_COUNT=0`): it times PyTorch in the same process, and spinning TVM
workers starve PyTorch's OpenMP threads (measured here: a BERT-base dense layer in PyTorch
took 17-29 ms beside a spinning TVM pool, 4.8 ms without; the TVM kernel itself 3.02 vs
3.03 ms on that 3 ms kernel; a model of many microsecond kernels does pay for waking the
workers at each one: the mlp 0.042-0.047 ms against 0.020 spinning). The compile-time loader
leaves the spinning as TVM has it. Tried and reverted (2026-12-05): the job's process
spinning and PyTorch timed 0.15 s after each TVM sample; PyTorch eager convnet then measured
1.54 ms against 0.66 with TVM's workers asleep (clean only from 0.5 s idle).

Example::

    no_spin()                                   # before the pool starts
    use_cores(int(target.export()["num-cores"]))
"""

from __future__ import annotations

import os

ENV = "TVM_NUM_THREADS"
SPIN_ENV = "TVM_THREAD_POOL_SPIN_COUNT"


def no_spin() -> None:
    """Idle TVM workers sleep at once instead of spinning (for pools started from now on);
    a `TVM_THREAD_POOL_SPIN_COUNT` the user set wins."""
    os.environ.setdefault(SPIN_ENV, "0")


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
