"""The persistent builder: builds in worker processes, reports failures per candidate."""

from __future__ import annotations

import os
import shutil

import pytest
from tvm.s_tir.meta_schedule.builder import BuilderInput
from tvm.script import ir as I
from tvm.script import tirx as T

from autotune.backends.tvm.builder import PersistentBuilder
from autotune.backends.tvm.workload import resolve_target

pytestmark = pytest.mark.timeout(300)


@I.ir_module
class Add:
    @T.prim_func(s_tir=True)
    def main(a: T.Buffer((64,), "float32"), b: T.Buffer((64,), "float32")):
        T.func_attr({"global_symbol": "main", "tirx.noalias": True})
        for i in range(64):
            with T.sblock("b"):
                vi = T.axis.remap("S", [i])
                b[vi] = a[vi] + T.float32(1)


@I.ir_module
class GpuOnly:
    """Bound to GPU threads: an llvm (CPU) build must refuse it."""

    @T.prim_func(s_tir=True)
    def main(a: T.Buffer((64,), "float32"), b: T.Buffer((64,), "float32")):
        T.func_attr({"global_symbol": "main", "tirx.noalias": True})
        for i in T.thread_binding(64, thread="threadIdx.x"):
            with T.sblock("b"):
                vi = T.axis.remap("S", [i])
                b[vi] = a[vi] + T.float32(1)


def test_good_and_bad_candidates_in_one_batch_and_pool_survives():
    target = resolve_target("llvm")
    builder = PersistentBuilder(max_workers=1, timeout_sec=60)
    try:
        bad = GpuOnly
        results = builder.build([BuilderInput(Add, target), BuilderInput(bad, target)])
        assert results[0].error_msg is None and results[0].artifact_path
        assert results[1].error_msg and results[1].artifact_path is None
        again = builder.build([BuilderInput(Add, target)])  # the pool still works
        assert again[0].error_msg is None
        shutil.rmtree(os.path.dirname(results[0].artifact_path))  # as the runner's callback does
        left = again[0].artifact_path  # a build never run: removed at shutdown
    finally:
        builder.shutdown()
    assert not os.path.exists(left) and not os.path.exists(os.path.dirname(os.path.dirname(left)))
