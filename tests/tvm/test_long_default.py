"""An untuned default that takes seconds a run is timed no longer than it takes to know it is
far behind: one run when it is measured, one round when a candidate is compared with it."""

from __future__ import annotations

import pytest
import torch
from tvm.s_tir import meta_schedule as ms

from autotune import backends, compare
from autotune.backends.base import Workload
from autotune.backends.tvm import importer
from autotune.backends.tvm.backend import PROBE_TIMEOUT_FACTOR, TvmSession
from autotune.backends.tvm.database import plain_trace
from autotune.db import open_db
from tests.tvm.test_space import _samples

pytestmark = pytest.mark.timeout(300)

RUN_TIMEOUT_S = 0.02  # the probe then gives up after 0.2 s; the naive GEMM below takes longer


@pytest.fixture(scope="module")
def gemm():
    """A 1024 x 1024 x 1024 dense layer: untuned TIR (one thread, no tiling) takes ~1-5 s a run
    (768 took 0.49 s on an AMD EPYC, under `compare.LONG_RUN_S`: the test was then decided by
    the host's speed)."""
    be = backends.get("tvm")
    target = be.resolve_target("llvm")
    torch.manual_seed(0)
    lin = torch.nn.Linear(1024, 1024)
    fused = importer.fuse(importer.to_relax(lin, (torch.randn(1024, 1024),)), target)
    (task,) = ms.relax_integration.extract_tasks(fused, target)
    return be, target, task


@pytest.mark.slow  # slow: 22 s of one deliberately long default
def test_a_default_over_the_probe_timeout_is_one_run_and_one_round_of_a_comparison(gemm, tmp_path):
    be, target, task = gemm
    w = Workload("tvm:long-default", task.task_name, "", {}, 1, task)
    with (
        open_db(tmp_path / "t.sqlite") as db,
        TvmSession(be, target, db, None, run_timeout_s=RUN_TIMEOUT_S) as s,
    ):
        out = s.measure(w, {})
        assert out.status == "ok" and len(out.samples) == 1, out
        assert out.samples[0] >= RUN_TIMEOUT_S * PROBE_TIMEOUT_FACTOR  # the probe did give up
        assert s.timing.default > out.samples[0]
        if out.samples[0] < compare.LONG_RUN_S:
            pytest.skip(f"the untuned GEMM ran in {out.samples[0]:.2f} s here: not a long default")
        # A tiled, parallel schedule of it: the comparison needs one round to be clear.
        (_, sch), *_ = [x for x in _samples(task, target, 1) if x[0] > 0]
        c = s.compare(w, {}, {"trace": plain_trace(sch.trace)}, rounds=5)
        assert c.status == "ok", c.error
        assert len(c.default) == len(c.tuned) == 1
        assert compare.wins(c.default, c.tuned)
