"""Which XLA compile options this jaxlib accepts, with their types and enum values.

Nothing here is a fixed list for one jaxlib version: candidate names and enum values are
read from the strings of the installed jaxlib's shared libraries, then each is probed by
asking XLA to compile a tiny function with it (an unknown name or value is refused before
anything is compiled, and the refusal names the option's type). `RULES` say which of the
accepted options are performance decisions and what values to try; an option a rule names
that this jaxlib lacks is simply not offered.

Discovery runs in a child process (an option may abort the process that uses it) and is
cached per jaxlib version under ~/.cache/autotune.

Example::

    opts = available()                 # {"xla_cpu_opt_preset": {"type": "enum", "values": [...]}, ...}
"""

from __future__ import annotations

import json
import mmap
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

_NAME_RE = re.compile(rb"xla_(?:cpu|gpu|backend|llvm)_[a-z0-9_]{3,80}")
_ENUM_RE = re.compile(rb"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+){2,12}")
_TYPE_RE = re.compile(r"is not a valid (\w+) value")


@dataclass(frozen=True)
class Rule:
    """A family of options that are performance decisions: kind, and values worth trying.

    `values` None means: every accepted enum value (enums) or both booleans (bools).
    """

    pattern: str
    kind: str  # 'fusion' | 'codegen'
    values: tuple[Any, ...] | None = None
    doc: str = ""


#: What we know how to tune; only options this jaxlib accepts are offered (see `decisions`).
RULES: tuple[Rule, ...] = (
    Rule(r"xla_cpu_experimental_\w+_fusion_type", "fusion", doc="ops fused into a library call"),
    Rule(r"xla_cpu_experimental_\w+_graph_fusion_mode", "fusion", doc="library graph fusion"),
    Rule(r"xla_cpu_use_fusion_emitters", "fusion", doc="MLIR fusion emitters"),
    Rule(r"xla_cpu_use_xnnpack", "fusion", doc="XNNPACK for dots/convs"),
    Rule(r"xla_cpu_use_multi_output_fusion", "fusion"),
    Rule(r"xla_cpu_prefer_vector_width", "codegen", (128, 256, 512), "LLVM vector width (bits)"),
    Rule(r"xla_cpu_opt_preset", "codegen", doc="optimization preset"),
    Rule(r"xla_cpu_scheduler_type", "codegen", doc="HLO scheduler"),
    Rule(r"xla_backend_optimization_level", "codegen", (1, 2, 3), "LLVM optimization level"),
    Rule(r"xla_cpu_enable_fast_math", "codegen", doc="fast math (kept only if numerics pass)"),
    Rule(r"xla_cpu_enable_fast_min_max", "codegen"),
    Rule(r"xla_cpu_disable_slp_vectorizer", "codegen"),
    Rule(r"xla_cpu_enable_concurrency_optimized_scheduler", "codegen"),
)


def _library_files() -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec("jaxlib")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(list(spec.submodule_search_locations)[0])
    return sorted(root.glob("*.so")) + sorted(root.glob("**/*.so*"))


def _strings() -> tuple[set[str], set[str]]:
    """Candidate option names and enum-looking identifiers found in jaxlib's libraries."""
    names: set[str] = set()
    enums: set[str] = set()
    for path in dict.fromkeys(_library_files()):
        try:
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                names.update(x.decode() for x in _NAME_RE.findall(m))
                enums.update(x.decode() for x in _ENUM_RE.findall(m))
        except (OSError, ValueError):
            continue
    return names, enums


def _probe(lowered: Any, name: str, value: Any) -> str:
    """'' when XLA accepts the option value, else its error text."""
    try:
        lowered.compile(compiler_options={name: value})
        return ""
    except Exception as exc:  # XLA raises JaxRuntimeError / ValueError for bad options
        return str(exc).splitlines()[0]


def _enum_values(lowered: Any, name: str, enums: set[str]) -> list[str]:
    """Enum values of an option: identifiers that contain the option's last two words."""
    words = name.upper().split("_")
    key = "_".join(words[-2:])
    cands = sorted(e for e in enums if key in e and not e.endswith(("_INVALID", "_UNSPECIFIED", "_")))
    return [v for v in cands if not _probe(lowered, name, v)]


def discover() -> dict[str, dict[str, Any]]:
    """Probe this jaxlib (in this process): {option: {"type": ..., "values": [...]}}."""
    import jax
    import jax.numpy as jnp

    lowered = jax.jit(lambda x: x + 1.0).lower(jnp.zeros((4,), jnp.float32))
    names, enums = _strings()
    wanted = {n for n in names if any(re.fullmatch(r.pattern, n) for r in RULES)}
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(wanted):
        err = _probe(lowered, name, "@")
        if "No such compile option" in err:
            continue
        m = _TYPE_RE.search(err)
        kind = m.group(1) if m else ("string" if not err else "unknown")
        entry: dict[str, Any] = {"type": kind}
        if kind == "enum":
            entry["values"] = _enum_values(lowered, name, enums)
            if not entry["values"]:
                continue
        elif kind == "bool" and _probe(lowered, name, True):
            continue
        out[name] = entry
    return out


def _cache_path() -> Path:
    import importlib.metadata as md

    version = md.version("jaxlib")
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "autotune"
    return base / f"xla-options-jaxlib-{version}.json"


@lru_cache(maxsize=1)
def available() -> dict[str, dict[str, Any]]:
    """The accepted tunable options of the installed jaxlib (cached per jaxlib version)."""
    path = _cache_path()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    proc = subprocess.run(
        [sys.executable, "-m", "autotune.passes.xla_options"], capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"XLA option discovery failed: {proc.stderr.strip().splitlines()[-1:]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(found, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass
    return found


@lru_cache(maxsize=1024)
def rule_for(name: str) -> Rule | None:
    """The rule an option name falls under, if any."""
    return next((r for r in RULES if re.fullmatch(r.pattern, name)), None)


def option_values(name: str, info: dict[str, Any]) -> list[Any]:
    """The values worth trying for an accepted option (without 'unset'), from its rule."""
    rule = rule_for(name)
    if rule is None:
        return []
    if info["type"] == "enum":
        values = list(info["values"])
        if name.endswith("_fusion_type"):  # a set of op kinds: none, each alone, all together
            values = ["", *values, ",".join(values)] if len(values) > 1 else ["", *values]
        return values
    if info["type"] == "bool":
        return [True, False]
    return list(rule.values or ())


def option_decisions(kind: str, options: dict[str, dict[str, Any]]) -> list[Any]:
    """Decisions ('opt:<name>', choices: unset + the values to try) for the options of a kind."""
    from autotune.passes.base import Decision

    out = []
    for name, info in sorted(options.items()):
        rule = rule_for(name)
        values = option_values(name, info)
        if rule is None or rule.kind != kind or not values:
            continue
        out.append(Decision(f"opt:{name}", "graph", kind, (None, *values), None, rule.doc))
    return out


if __name__ == "__main__":
    print(json.dumps(discover(), sort_keys=True))
