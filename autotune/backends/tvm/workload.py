"""TVM workload identity: stable fingerprints of TIR modules and target descriptions.

A workload fingerprint is TVM's structural hash (names ignored, structure and constants
compared), which is what MetaSchedule itself uses to find a workload; it is the same in
every process. The target row names the device, its ISA features and the versions of
TVM, TVM-FFI and LLVM, so records never leak across compilers or machines.

A device measured through an RPC tracker (`autotune.backends.tvm.remote`) gets a target of
its own: its CPU, triple and thread count as its TVM runtime reports them, and TVM's `model`
attribute set to "rpc:KEY". A target with a `model` names its device, so it is described by
its attributes alone (the ISA from LLVM's model of its CPU), never by this host's
/proc/cpuinfo: records of the host and of the device never share a target row, and
`autotune.tvm.compile` with the device's target finds the device's records.

Example::

    target = resolve_target("llvm")          # this CPU, mcpu and core count filled in
    fp = fingerprint(prim_func_module)       # 'tvm:sh1:9f3c...'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from autotune.backends.hostinfo import ISA_FLAGS, cpu_description
from autotune.db.records import TargetInfo
from autotune.errors import UserError

FINGERPRINT_PREFIX = "tvm:sh1:"
#: The `model` of a remote device's target: "rpc:" and its key.
REMOTE_MODEL_PREFIX = "rpc:"


@dataclass(frozen=True)
class DeviceInfo:
    """A remote device as its TVM runtime describes itself (`remote.describe_device`); None
    where the runtime cannot tell (no LLVM in it): the target must then give that attribute."""

    key: str
    cpu: str | None  # LLVM's name for its CPU, e.g. 'cortex-a72'
    triple: str | None
    threads: int | None  # the threads its TVM runtime runs parallel loops on
    features: tuple[str, ...] = ()  # LLVM feature names its CPU has

    @property
    def model(self) -> str:
        return f"{REMOTE_MODEL_PREFIX}{self.key}"


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


def resolve_target(spec: Any = "llvm", device: DeviceInfo | None = None) -> Any:
    """A tvm.target.Target for this CPU, fully described: mcpu and num-cores filled in; or,
    with `device`, for that remote device: its triple, CPU (and the vector features LLVM's
    model of it lacks) and thread count, `model` "rpc:KEY".

    Accepts 'llvm' (or 'host'), a kind name, JSON text, a dict of target attributes such as
    {"kind": "llvm", "mcpu": "skylake"} (TVM 0.27 no longer parses '-mcpu=' strings), or a
    tvm Target. Records are keyed by the full description, so tuning and compiling with
    `Target("llvm")` both resolve to the same target. Attributes the spec gives are kept.
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
        if device is not None and spec == "llvm":
            attrs: dict[str, Any] = {"kind": "llvm"}  # not Target("llvm"): it has this host's triple
        else:
            if isinstance(spec, str):
                spec = tvm.target.Target(spec)
            attrs = target_json(spec) if hasattr(spec, "export") else dict(spec)
        if attrs.get("kind") == "llvm" and device is None:
            attrs.setdefault("mtriple", host_triple())
            if "mcpu" not in attrs:
                attrs["mcpu"] = host_cpu()
                extra = missing_host_features(attrs["mcpu"])
                if extra and "mattr" not in attrs:
                    attrs["mattr"] = [f"+{f}" for f in extra]
            attrs.setdefault("num-cores", physical_cores())
        elif attrs.get("kind") == "llvm":
            _fill_device(attrs, device)
        target = tvm.target.Target(attrs)
    except UserError:
        raise
    except Exception as exc:  # TVM raises its own error types for bad target text
        raise UserError(f"unknown or invalid target {spec!r}: {str(exc).splitlines()[0]}") from exc
    if target.kind.name != "llvm":
        raise UserError(f"target kind {target.kind.name!r} is not supported yet (only llvm CPU targets)")
    return target


def _fill_device(attrs: dict[str, Any], device: DeviceInfo) -> None:
    """A remote device's attributes where the spec has none; its `model` always (so that no
    target of this host ever shares its row)."""
    attrs["model"] = device.model
    asked = {"mtriple": device.triple, "mcpu": device.cpu, "num-cores": device.threads}
    for name, value in asked.items():
        if name not in attrs:
            if value is None:
                raise UserError(
                    f"device {device.key!r}: its TVM runtime does not tell its {name} "
                    "(no LLVM in it): give it in the target"
                )
            attrs[name] = value
    if asked["mcpu"] is not None and attrs["mcpu"] == asked["mcpu"] and "mattr" not in attrs:
        extra = missing_features(attrs["mcpu"], attrs["mtriple"], device.features)
        if extra:
            attrs["mattr"] = [f"+{f}" for f in extra]


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
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return ()
    return missing_features(mcpu, None, tuple(_CPU_FLAGS[f] for f in flags if f in _CPU_FLAGS))


@lru_cache(maxsize=8)
def missing_features(mcpu: str, triple: str | None, have: tuple[str, ...]) -> tuple[str, ...]:
    """Of the vector and matrix features `have` (LLVM names), those LLVM's model of `mcpu`
    (on `triple`; None: this host's) lacks."""
    import tvm
    from tvm.target import codegen

    attrs = {"kind": "llvm", "mcpu": mcpu} | ({"mtriple": triple} if triple else {})
    wanted = set(_CPU_FLAGS.values()) & set(have)
    try:
        target = tvm.target.Target(attrs)
        return tuple(sorted(f for f in wanted if not codegen.llvm_cpu_has_features(f, target)))
    except Exception:  # an LLVM without this triple's backend: nothing added
        return ()


#: The LLVM name of each of `hostinfo.ISA_FLAGS` where it differs from the /proc/cpuinfo one.
_LLVM_NAMES = {"sse4_1": "sse4.1", "sse4_2": "sse4.2", "asimd": "neon"} | _CPU_FLAGS


@lru_cache(maxsize=8)
def _named_isa(target_text: str) -> tuple[str, ...]:
    """The ISA flags (as /proc/cpuinfo names them, `hostinfo.ISA_FLAGS`) of LLVM's model of a
    target's CPU with its `mattr`: how a named device's ISA is described."""
    import tvm
    from tvm.target import codegen

    try:
        have = set(codegen.llvm_get_cpu_features(tvm.target.Target(json.loads(target_text))))
    except Exception:  # an LLVM without this triple's backend: the ISA stays unknown
        return ()
    return tuple(sorted(f for f in ISA_FLAGS if _LLVM_NAMES.get(f, f) in have))


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
    """The database description of a TVM target: this machine's CPU, or, for a target that
    names its device (`model`, e.g. a remote device's "rpc:KEY"), that device as the target's
    attributes describe it."""
    version, libs = _versions()
    attrs = target_json(target)
    if attrs.get("model"):
        model = str(attrs["model"])
        keep = {k: v for k, v in attrs.items() if k in ("kind", "mtriple", "mcpu", "mattr")}
        flags = _named_isa(json.dumps(keep, sort_keys=True))
    else:
        model, flags = cpu_description()
    return TargetInfo(
        kind=target.kind.name,
        device_model=f"{model} ({attrs.get('mcpu', 'generic')})",
        isa_features=flags,
        compiler="tvm",
        compiler_version=version,
        libraries=dict(libs),
        target_json=attrs,
    )
