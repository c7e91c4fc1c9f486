"""Helpers shared by the benchmark scripts: statistics, tables, and the JSON result files.

Not a test and not part of the package: every script prints its method next to its
numbers and writes the same into ``benchmarks/results/NAME.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PYTHON = sys.executable
AUTOTUNE_CLI = str(Path(sys.executable).with_name("autotune"))


def tvm_on_all_cores() -> int:
    """TVM_NUM_THREADS = the cores available, for this process and every worker it starts:
    TVM's runtime alone takes half the logical CPUs of an x86 machine, so stock MetaSchedule
    would tune and run on one core of two (autotune sets it itself). Returns the count."""
    cores = len(os.sched_getaffinity(0))
    os.environ.setdefault("TVM_NUM_THREADS", str(cores))
    # Idle TVM workers sleep instead of spinning: spinning ones starve PyTorch's OpenMP threads
    # timed in the same process (a 4.8 ms dense layer took 17-29 ms). Kernels of milliseconds
    # lose nothing; a model of microsecond kernels does (the mlp 0.042-0.047 ms against 0.020).
    os.environ.setdefault("TVM_THREAD_POOL_SPIN_COUNT", "0")
    return int(os.environ["TVM_NUM_THREADS"])


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def pct(xs: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return float(s[lo] + (s[hi] - s[lo]) * (k - lo))


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """Median of per-round ratios num[i] / den[i] (a paired speedup when num is the baseline)."""
    return median([a / b for a, b in zip(num, den) if b > 0])


def rotated(keys: Sequence[str], r: int) -> list[str]:
    """The order of round `r` of an interleaved run: `keys` rotated by `r`."""
    k = r % len(keys)
    return [*keys[k:], *keys[:k]]


def interleave(timers: dict[str, Any], rounds: int, pause_s: float = 0.0) -> dict[str, list[float]]:
    """`rounds` rounds of one sample of every timer (a call returning seconds), in an order
    rotated every round, with `pause_s` after each sample; the samples by timer."""
    samples: dict[str, list[float]] = {k: [] for k in timers}
    for r in range(rounds):
        for k in rotated(list(timers), r):
            samples[k].append(timers[k]())
            time.sleep(pause_s)
    return samples


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "cpu": model,
        "cores_available": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "host": platform.node(),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.rjust(widths[i]) if i else c.ljust(widths[i]) for i, c in enumerate(r)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        if abs(v) >= 100:
            return f"{v:.1f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    return "-" if v is None else str(v)


def write_result(
    name: str, method: str, results: dict[str, Any], text: str, argv: Sequence[str], script: str | None = None
) -> Path:
    """Write benchmarks/results/NAME.json (method, the printed text, the raw numbers); `script`
    = the benchmark that ran (default: benchmarks/NAME.py, without -quick)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    doc = {
        "benchmark": name,
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(
            [
                os.path.relpath(PYTHON, ROOT) if PYTHON.startswith(str(ROOT)) else PYTHON,
                script or f"benchmarks/{name.removesuffix('-quick')}.py",
                *argv,
            ]
        ),
        "machine": machine(),
        "versions": versions(),
        "method": method,
        "printed": text,
        "results": results,
    }
    out.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    return out


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, Path):
        return str(v)
    return str(v)


def versions() -> dict[str, str]:
    out = {}
    for pkg in ("apache-tvm", "apache-tvm-ffi", "torch", "xgboost-cpu"):
        try:
            from importlib.metadata import version

            out[pkg] = version(pkg)
        except Exception:  # noqa: BLE001 - best effort
            out[pkg] = "?"
    try:
        out["autotune_git"] = (
            subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            + " (+ uncommitted changes)"
        )
    except Exception:  # noqa: BLE001
        pass
    return out


def wrap(text: str, width: int = 100) -> str:
    import textwrap

    return "\n".join(textwrap.fill(p, width) if p.strip() else "" for p in text.split("\n"))
