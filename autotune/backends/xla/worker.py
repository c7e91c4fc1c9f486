"""The isolated XLA worker: compiles and times candidates of one workload in its own process.

Some option combinations abort the process that compiles them (SIGILL, SIGSEGV), so every
candidate is compiled and run here, never in the tuning job. The parent
(`runner.IsolatedWorker`) talks JSON lines over a pipe and restarts the worker when it dies.

Requests (one JSON object per line) and replies:

- ``{"op": "load", "source", "platform", "options", "ref"}``: build the model, lower it,
  compile the default, save (or load) the reference outputs. Reply: the workload info.
- ``{"op": "measure", "config", "repeat", "min_repeat_s"}``: compile the config, check its
  outputs against the reference (`autotune.compare.mismatch`), time it.
- ``{"op": "compare", "configs", "rounds", "min_repeat_s"}``: check every config's outputs,
  then time them interleaved (A B, B A, ...), one sample each per round.

Before each risky step the worker writes ``{"phase": "compile" | "run"}`` so that the
parent can tell a compiler crash from a crash at run time.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_PASS_RE = re.compile(r"\.after_([A-Za-z0-9_\-]+)\.before_")


class Worker:
    """State of one worker process: the model, its example args and reference outputs."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.fn: Any = None
        self.args: tuple = ()
        self.info: dict[str, Any] = {}
        self.ref: list[Any] = []
        self.compiled: dict[str, Any] = {}

    def send(self, msg: dict[str, Any]) -> None:
        self.out.write(json.dumps(msg) + "\n")
        self.out.flush()

    # --- requests -----------------------------------------------------------------
    def load(self, source: str, platform: str, options: dict, ref: str | None) -> dict[str, Any]:
        import jax
        import numpy as np

        from autotune import zoo
        from autotune.backends.xla import workload as wl
        from autotune.backends.xla.rewrite import program_ops

        jax.config.update("jax_platforms", "cuda" if platform == "gpu" else platform)
        t0 = time.perf_counter()
        model = zoo.create(source, backend="xla")
        self.fn, self.args = model.fn, tuple(model.example_args)
        lowered = jax.jit(self.fn).lower(*self.args)
        self.send({"phase": "compile"})
        compiled = lowered.compile()
        outputs = [np.asarray(x) for x in jax.tree_util.tree_leaves(compiled(*self.args))]
        if ref and Path(ref).exists():
            with np.load(ref) as data:
                self.ref = [data[f"a{i}"] for i in range(len(data.files))]
        else:
            self.ref = outputs
            if ref:
                tmp = f"{ref}.{os.getpid()}.npz"
                np.savez(tmp, **{f"a{i}": a for i, a in enumerate(outputs)})
                os.replace(tmp, ref)
        cost = compiled.cost_analysis() or {}
        self.info = {
            "fingerprint": wl.fingerprint(lowered),
            "name": model.name,
            "hlo": wl.hlo_text(lowered),
            "optimized_hlo": wl.optimized_hlo_text(compiled),
            "args": wl.arrays(self.args),
            "results": wl.arrays(lowered.out_info),
            "changed_passes": _changed_passes(lowered),
            "options": options,
            "cost": {k: float(v) for k, v in cost.items() if "{" not in k},
            "platform": platform,
            "ops": program_ops(self.fn, self.args),
            "load_s": time.perf_counter() - t0,
        }
        self.compiled = {"{}": compiled}
        return {"ok": True, "info": self.info}

    def _compile(self, config: dict[str, Any]) -> Any:
        from autotune.backends.xla.build import XlaBuild
        from autotune.db.records import canonical_json

        key = canonical_json(config)
        if key not in self.compiled:
            build = XlaBuild.from_config(config, self.info)
            self.send({"phase": "compile"})
            self.compiled[key] = build.compile(self.fn, self.args)[1]
            if len(self.compiled) > 8:
                self.compiled.pop(next(k for k in self.compiled if k != "{}"))
        return self.compiled[key]

    def measure(self, config: dict, repeat: int = 15, min_repeat_s: float = 0.005) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            compiled = self._compile(config)
        except Exception as exc:
            return {"status": "build_error", "error": _one_line(exc), "compile_s": time.perf_counter() - t0}
        compile_s = time.perf_counter() - t0
        self.send({"phase": "run"})
        t1 = time.perf_counter()
        failed = self._check(compiled)
        if failed:
            return failed | {"compile_s": compile_s}
        number = _calls_per_sample(compiled, self.args, min_repeat_s)
        samples = [_sample(compiled, self.args, number) for _ in range(repeat)]
        run_s = time.perf_counter() - t1
        return {"status": "ok", "samples": samples, "number": number, "compile_s": compile_s, "run_s": run_s}

    def _check(self, compiled: Any) -> dict[str, Any] | None:
        """None when the executable's outputs match the reference; else the failed reply."""
        import jax
        import numpy as np

        from autotune.compare import mismatch

        try:
            outs = [np.asarray(x) for x in jax.tree_util.tree_leaves(compiled(*self.args))]
        except Exception as exc:
            return {"status": "run_error", "error": _one_line(exc)}
        err = mismatch(outs, self.ref)
        return {"status": "wrong_result", "error": err} if err else None

    def compare(self, configs: list[dict], rounds: int = 20, min_repeat_s: float = 0.005) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            compiled = [self._compile(c) for c in configs]
        except Exception as exc:
            return {"status": "build_error", "error": _one_line(exc), "compile_s": time.perf_counter() - t0}
        compile_s = time.perf_counter() - t0
        self.send({"phase": "run"})
        for c in compiled:
            failed = self._check(c)
            if failed:
                return failed | {"compile_s": compile_s}
        number = max(_calls_per_sample(c, self.args, min_repeat_s) for c in compiled)
        samples: list[list[float]] = [[] for _ in configs]
        for r in range(rounds):
            order = range(len(configs)) if r % 2 == 0 else reversed(range(len(configs)))
            for i in order:
                samples[i].append(_sample(compiled[i], self.args, number))
        run_s = time.perf_counter() - t0 - compile_s
        return {"status": "ok", "samples": samples, "number": number, "compile_s": compile_s, "run_s": run_s}


def _changed_passes(lowered: Any) -> list[str]:
    """HLO passes that changed this module in a default compile, in pipeline order."""
    with tempfile.TemporaryDirectory(prefix="autotune-xla-dump-") as d:
        lowered.compile(compiler_options={"xla_dump_to": d, "xla_dump_hlo_pass_re": ".*"})
        names = sorted(os.listdir(d))
    found: list[str] = []
    for n in names:
        m = _PASS_RE.search(n)
        if m and m.group(1) not in found:
            found.append(m.group(1))
    return found


def _sample(compiled: Any, args: tuple, number: int) -> float:
    """Seconds per call, averaged over `number` back-to-back calls."""
    import jax

    t = time.perf_counter()
    for _ in range(number):
        out = compiled(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t) / number


def _calls_per_sample(compiled: Any, args: tuple, min_repeat_s: float) -> int:
    """Calls per sample so that one sample lasts at least `min_repeat_s` (after warm-up)."""
    for _ in range(3):
        _sample(compiled, args, 1)
    one = min(_sample(compiled, args, 1) for _ in range(3))
    return max(1, min(10_000, int(min_repeat_s / max(one, 1e-7)) + 1))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def main() -> None:
    """Serve requests from stdin until EOF or {"op": "quit"}; replies go to the original stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything XLA or Python prints goes to the log, not into the protocol
    worker = Worker(out)
    for line in sys.stdin:
        req = json.loads(line)
        op = req.pop("op")
        if op == "quit":
            break
        try:
            reply = getattr(worker, op)(**req)
        except Exception as exc:
            reply = {"status": "error", "error": _one_line(exc)}
        worker.send({"result": reply})


if __name__ == "__main__":
    main()
