"""TVM workload identity: stable fingerprints of TIR modules and target descriptions.

A workload fingerprint is TVM's structural hash (names ignored, structure and constants
compared), which is what MetaSchedule itself uses to find a workload; it is the same in
every process. The target row names the device, its ISA features and the versions of
TVM, TVM-FFI and LLVM, so records never leak across compilers or machines.

Example::

    target = resolve_target("llvm")          # this CPU, mcpu and core count filled in
    fp = fingerprint(prim_func_module)       # 'tvm:sh1:9f3c...'
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any

from autotune.backends.hostinfo import cpu_description
from autotune.db.records import TargetInfo
from autotune.errors import UserError

FINGERPRINT_PREFIX = "tvm:sh1:"


def fingerprint(mod: Any) -> str:
    """Stable content hash of an IRModule (or PrimFunc) as MetaSchedule compares them."""
    import tvm_ffi

    return f"{FINGERPRINT_PREFIX}{tvm_ffi.structural_hash(mod) & 0xFFFFFFFFFFFFFFFF:016x}"


def physical_cores() -> int:
    """Physical cores available to this process (MetaSchedule's 'num-cores')."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, n)


def resolve_target(spec: Any = "llvm") -> Any:
    """A tvm.target.Target for this CPU, fully described: mcpu and num-cores filled in.

    Accepts 'llvm' (or 'host'), a kind name, JSON text, a dict of target attributes such as
    {"kind": "llvm", "mcpu": "skylake"} (TVM 0.27 no longer parses '-mcpu=' strings), or a
    tvm Target. Records are keyed by the full description, so tuning and compiling with
    `Target("llvm")` both resolve to the same target.
    """
    import tvm

    if spec is None or spec == "host":
        spec = "llvm"
    if isinstance(spec, str) and spec.strip().startswith("{"):
        try:
            spec = json.loads(spec)
        except ValueError as exc:
            raise UserError(f"target {spec!r}: bad JSON ({exc})") from exc
    try:
        if isinstance(spec, str):
            spec = tvm.target.Target(spec)
        attrs = target_json(spec) if hasattr(spec, "export") else dict(spec)
        if attrs.get("kind") == "llvm":
            attrs.setdefault("mtriple", host_triple())
            if "mcpu" not in attrs:
                attrs["mcpu"] = host_cpu()
                extra = missing_host_features(attrs["mcpu"])
                if extra and "mattr" not in attrs:
                    attrs["mattr"] = [f"+{f}" for f in extra]
            attrs.setdefault("num-cores", physical_cores())
        target = tvm.target.Target(attrs)
    except Exception as exc:  # TVM raises its own error types for bad target text
        raise UserError(f"unknown or invalid target {spec!r}: {str(exc).splitlines()[0]}") from exc
    if target.kind.name != "llvm":
        raise UserError(f"target kind {target.kind.name!r} is not supported yet (only llvm CPU targets)")
    return target


@lru_cache(maxsize=1)
def host_triple() -> str:
    """The LLVM target triple TVM compiles for by default here."""
    import tvm

    return str(tvm.target.Target("llvm").export().get("mtriple", ""))


@lru_cache(maxsize=1)
def host_cpu() -> str:
    """LLVM's name for this CPU, e.g. 'znver4'."""
    import tvm

    return str(tvm.target.codegen.llvm_get_system_cpu())


#: /proc/cpuinfo flags of the vector and matrix extensions, and their LLVM feature names.
_CPU_FLAGS = {
    "avx2": "avx2",
    "fma": "fma",
    "avx512f": "avx512f",
    "avx512bw": "avx512bw",
    "avx512cd": "avx512cd",
    "avx512dq": "avx512dq",
    "avx512vl": "avx512vl",
    "avx512_vnni": "avx512vnni",
    "avx512_bf16": "avx512bf16",
    "avx512_fp16": "avx512fp16",
    "avx_vnni": "avxvnni",
    "amx_tile": "amx-tile",
    "amx_bf16": "amx-bf16",
    "amx_int8": "amx-int8",
}


@lru_cache(maxsize=4)
def missing_host_features(mcpu: str) -> tuple[str, ...]:
    """Vector and matrix features this CPU has (its /proc/cpuinfo flags) that LLVM's model of
    `mcpu` lacks: when LLVM names a newer CPU after an older one (a Sapphire Rapids part
    detected as 'rocketlake' has AMX, AVX512-FP16 and BF16 that 'rocketlake' does not), they
    are added to the target as `mattr`, so that the target describes the CPU it runs on."""
    import tvm
    from tvm.target import codegen

    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return ()
    target = tvm.target.Target({"kind": "llvm", "mcpu": mcpu})
    out = []
    for flag in flags:
        feature = _CPU_FLAGS.get(flag)
        if feature and not codegen.llvm_cpu_has_features(feature, target):
            out.append(feature)
    return tuple(sorted(out))


def target_json(target: Any) -> dict[str, Any]:
    """A target's attributes as plain JSON."""
    return json.loads(json.dumps(dict(target.export()), default=list))


@lru_cache(maxsize=8)
def _versions() -> tuple[str, tuple[tuple[str, str], ...]]:
    import tvm
    import tvm_ffi

    libs = {"tvm-ffi": str(tvm_ffi.__version__)}
    llvm = tvm.support.libinfo().get("LLVM_VERSION")
    if llvm:
        libs["llvm"] = str(llvm)
    return str(tvm.__version__), tuple(sorted(libs.items()))


def target_info(target: Any) -> TargetInfo:
    """The database description of a TVM target on this machine."""
    model, flags = cpu_description()
    version, libs = _versions()
    attrs = target_json(target)
    return TargetInfo(
        kind=target.kind.name,
        device_model=f"{model} ({attrs.get('mcpu', 'generic')})",
        isa_features=flags,
        compiler="tvm",
        compiler_version=version,
        libraries=dict(libs),
        target_json=attrs,
    )
