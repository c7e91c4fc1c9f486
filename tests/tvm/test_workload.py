"""Workload identity: fingerprints are structural and stable; targets resolve to one key."""

from __future__ import annotations

import pytest
import tvm

from autotune.backends.tvm.workload import fingerprint, resolve_target, target_info
from autotune.errors import UserError


def test_every_spelling_of_this_cpu_is_one_target():
    forms = ["llvm", "host", None, {"kind": "llvm"}, '{"kind": "llvm"}', tvm.target.Target("llvm")]
    keys = {target_info(resolve_target(f)).key for f in forms}
    assert len(keys) == 1
    t = resolve_target("llvm")
    assert t.export()["num-cores"] >= 1 and t.export()["mcpu"]
    assert target_info(resolve_target({"kind": "llvm", "mcpu": "skylake"})).key not in keys


@pytest.mark.parametrize("bad", ["no-such-kind", "{not json", {"kind": "no-such-kind"}])
def test_bad_targets_are_user_errors(bad):
    with pytest.raises(UserError):
        resolve_target(bad)


def test_fingerprint_ignores_names_but_not_structure():
    from tvm import te

    def matmul(n: int, name: str):
        a = te.placeholder((n, n), name=f"{name}_a")
        b = te.placeholder((n, n), name=f"{name}_b")
        k = te.reduce_axis((0, n), name="k")
        c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name=f"{name}_c")
        return tvm.IRModule({"main": te.create_prim_func([a, b, c])})

    assert fingerprint(matmul(16, "x")) == fingerprint(matmul(16, "y"))
    assert fingerprint(matmul(16, "x")) != fingerprint(matmul(32, "x"))
    assert fingerprint(matmul(16, "x")).startswith("tvm:sh1:")


def test_the_host_target_has_every_vector_feature_of_this_cpu():
    """LLVM may name a newer CPU after an older one; the target then carries the missing
    features as mattr, so that it describes the CPU it runs on."""
    from tvm.target import codegen

    from autotune.backends.tvm.workload import _CPU_FLAGS, missing_host_features, resolve_target

    target = resolve_target("llvm")
    with open("/proc/cpuinfo") as f:
        flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    wanted = [_CPU_FLAGS[f] for f in flags if f in _CPU_FLAGS]
    assert all(codegen.llvm_cpu_has_features(feat, target) for feat in wanted)
    # An older CPU name lacks what this one has (when it has any AVX-512 at all).
    if "avx512f" in flags:
        assert "avx512f" in missing_host_features("haswell")
