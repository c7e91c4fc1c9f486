"""Honest measurement of TVM workloads and models on this CPU, or on a remote device.

Builds of one TIR module in this process, random inputs, and zero-argument timers (one
sample per call) for a TIR function or a whole Relax model; how two of them are compared
(interleaved, paired ratios, the output check) is `autotune.compare`.

Where kernels run is a *place*: `HERE` (this process, `tvm.cpu()`) or an RPC session on a
remote device (`remote.Place`). A place has `dev`, the device its tensors live on, and
`load(executable)`, the built executable made runnable there; the runners and timers take
`dev` (default: this CPU).

Example::

    default, tuned = build_func(mod, target), build_func(scheduled_mod, target)
    args = random_args(mod)
    wrong = compare.mismatch(run_func(tuned, args), run_func(default, args))
    a, b = compare.interleaved(time_func(default, args), time_func(tuned, args), rounds=15)

    rt = place.load(compile_func(mod, target))                  # on the device of `place`
    samples = time_func(rt, args, dev=place.dev)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tvm
from tvm.s_tir.meta_schedule.arg_info import ArgInfo


class Here:
    """The place of kernels run in this process: this CPU."""

    @property
    def dev(self) -> Any:
        return tvm.cpu()

    def load(self, executable: Any) -> Any:
        """A built executable (`tvm.compile`'s, of TIR or of a Relax model) runnable here."""
        return executable.jit()


HERE = Here()


def compile_func(mod: Any, target: Any, prepacked: bool = True) -> Any:
    """Build one (scheduled or default) TIR module in this process: the executable, to be
    loaded where it runs (`build_func`: here).

    A schedule may read a weight in a layout of its own (MetaSchedule's `RewriteLayout`);
    deployed, the weight is packed once when the model is built. `prepacked=True` builds the
    kernel as deployed, without the packing, to be timed on `random_args(mod)` (the packed
    shapes); `prepacked=False` keeps the packing in, so the function takes the weights as
    the model has them: what output checks against the default schedule need.
    """
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    if prepacked:
        mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm.compile(mod, target=target)


def build_func(mod: Any, target: Any, prepacked: bool = True) -> Any:
    """`compile_func`, runnable in this process."""
    return compile_func(mod, target, prepacked).jit()


def apply_trace(mod: Any, trace_json: Any) -> Any:
    """The module a stored trace schedules (decisions replayed, postprocessing kept)."""
    sch = tvm.s_tir.Schedule(mod)
    tvm.s_tir.schedule.Trace.apply_json_to_schedule(trace_json, sch)
    return sch.mod


def random_args(mod: Any, seed: int = 0, prepacked: bool = True) -> list[np.ndarray]:
    """Random arguments for a PrimFunc module: floats in [-1, 1), integer inputs zero; in the
    packed weight layouts of `build_func(mod, prepacked=True)` unless `prepacked=False`."""
    rng = np.random.default_rng(seed)
    out = []
    for info in arg_info(mod, prepacked):
        kind, dtype, shape = info.as_json()
        shape = [int(s) for s in shape]
        if "float" in dtype:
            out.append(rng.uniform(-1.0, 1.0, size=shape).astype(dtype))
        else:
            out.append(np.zeros(shape, dtype=dtype))
    return out


def arg_info(mod: Any, prepacked: bool = True) -> list[ArgInfo]:
    """The arguments of a PrimFunc module (weights in their packed layouts when `prepacked`)."""
    if prepacked:
        return list(ArgInfo.from_entry_func(mod, remove_preproc=True))
    return list(ArgInfo.from_prim_func(next(iter(mod.functions.values()))))


def run_func(rt_mod: Any, args: Sequence[np.ndarray], dev: Any = None) -> list[np.ndarray]:
    """Run a built TIR function (loaded on `dev`, default this CPU) on copies of args; return
    every argument afterwards."""
    dev = tvm.cpu() if dev is None else dev
    tensors = [tvm.runtime.tensor(a.copy(), dev) for a in args]
    rt_mod["main"](*tensors)
    return [t.numpy() for t in tensors]


def _sampler(evaluate: Callable[[], float], run: Callable[[], Any], long: bool) -> Callable[[], float]:
    """One sample per call: TVM's time evaluator (a discarded run, then a batch of at least
    min_ms) or, once a sample took `compare.LONG_RUN_S` or more (`long`: from the start), one
    run timed here: the discarded run would double the cost of a kernel that long."""
    from autotune.compare import LONG_RUN_S

    state = {"long": long}

    def sample() -> float:
        if state["long"]:
            t0 = time.perf_counter()
            run()
            secs = time.perf_counter() - t0
        else:
            secs = float(evaluate())
        state["long"] = secs >= LONG_RUN_S
        return secs

    return sample


def time_func(
    rt_mod: Any, args: Sequence[np.ndarray], min_ms: float = 20.0, warm: bool = True, dev: Any = None
) -> Callable[[], float]:
    """A zero-argument timer: each call returns one sample (mean seconds of a batch of runs);
    `warm`: after one warm-up run (`warm=False`: for a kernel just run and known to be long,
    timed by single runs from the first sample). `dev`: where `rt_mod` is loaded (this CPU)."""
    dev = tvm.cpu() if dev is None else dev
    tensors = [tvm.runtime.tensor(a, dev) for a in args]
    evaluator = rt_mod.time_evaluator("main", dev, number=1, repeat=1, min_repeat_ms=int(min_ms))
    if warm:
        evaluator(*tensors)
    main = rt_mod["main"]
    return _sampler(lambda: evaluator(*tensors).mean, lambda: main(*tensors), long=not warm)


def time_vm(
    executable: Any, inputs: Sequence[np.ndarray], min_ms: float = 50.0, warm: bool = True, dev: Any = None
) -> Callable[[], float]:
    """A timer for a whole Relax model's main function (one sample per call; `warm`: after a
    warm-up run). `dev`: where `executable` (then a module loaded there) runs (this CPU)."""
    from tvm import relax

    dev = tvm.cpu() if dev is None else dev
    vm = relax.VirtualMachine(executable, dev)
    args = [tvm.runtime.tensor(x, dev) for x in inputs]
    vm.set_input("main", *args)
    evaluator = vm.time_evaluator("invoke_stateful", dev, number=1, repeat=1, min_repeat_ms=int(min_ms))
    if warm:
        evaluator("main")
    return _sampler(lambda: evaluator("main").mean, lambda: vm.invoke_stateful("main"), long=not warm)
