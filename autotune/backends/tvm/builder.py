"""A MetaSchedule builder that keeps its worker processes between batches.

MetaSchedule's `LocalBuilder` starts a fresh process pool for every batch, and its
default build function imports `tvm.s_tir.tensor_intrin` in each new worker (~22 s on
this machine), so a batch costs ~24 s whatever its size. This builder does the same
build (remove the weight-layout-rewrite block, `tvm.compile` the TIR, export a tar) in
a pool that lives for the whole tuning job, recycling each worker after a number of
builds to bound the memory TVM's workers leak. A candidate that crashes or hangs the
compiler kills only its worker: it comes back as a failed BuilderResult.

Example::

    builder = PersistentBuilder(max_workers=2, timeout_sec=60)
    results = builder.build([BuilderInput(mod, target)])
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.builder import BuilderInput, BuilderResult, PyBuilder
from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

from autotune.backends.tvm.workload import physical_cores


def build_and_export(mod: Any, target: Any, root: str | None = None) -> str:
    """Build one scheduled TIR module and export it as a tar in a fresh folder under `root`;
    runs in a worker process."""
    import tvm
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock
    from tvm.support.tar import tar

    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    rt_mod = tvm.compile(mod, target=target)
    path = os.path.join(tempfile.mkdtemp(prefix="build-", dir=root), "mod." + tar.output_format)
    rt_mod.export_library(path, fcompile=tar)
    return path


@derived_object
class PersistentBuilder(PyBuilder):
    """Builds candidates in a long-lived pool of worker processes."""

    def __init__(self, max_workers: int | None = None, timeout_sec: float = 60.0, max_uses: int = 64) -> None:
        super().__init__()
        self.max_workers = max_workers or physical_cores()
        self.timeout_sec = timeout_sec
        self.max_uses = max_uses
        self.seconds = 0.0  # wall clock spent in `build`, all batches
        self._pool: PopenPoolExecutor | None = None
        # Every build's folder lives under this one, removed at shutdown: what a killed worker
        # or a candidate never run leaves behind goes with it.
        self._root: tempfile.TemporaryDirectory | None = None

    def _executor(self) -> PopenPoolExecutor:
        if self._pool is None:
            self._pool = PopenPoolExecutor(
                max_workers=self.max_workers,
                timeout=self.timeout_sec,
                maximum_process_uses=self.max_uses,
            )
        return self._pool

    def build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        t0 = time.perf_counter()
        try:
            return self._build(build_inputs)
        finally:
            self.seconds += time.perf_counter() - t0

    def _build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        pool = self._executor()
        if self._root is None:
            self._root = tempfile.TemporaryDirectory(prefix="autotune-build-")
        results: list[BuilderResult] = []
        outcomes = pool.map_with_error_catching(
            lambda x: build_and_export(*x), [(b.mod, b.target, self._root.name) for b in build_inputs]
        )
        for outcome in outcomes:
            if outcome.status == StatusKind.COMPLETE:
                results.append(BuilderResult(outcome.value, None))
            elif outcome.status == StatusKind.TIMEOUT:
                results.append(BuilderResult(None, f"timeout: build killed after {self.timeout_sec} s"))
            else:
                results.append(BuilderResult(None, f"build error: {outcome.value}"))
        return results

    def shutdown(self) -> None:
        """Stop the worker processes and remove what they built."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._root is not None:
            self._root.cleanup()
            self._root = None
