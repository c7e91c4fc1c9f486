"""The XLA backend: tuning each bundled JAX model, tuned vs XLA's default re-measured, lookup cost.

.venv/bin/python benchmarks/xla_tuning.py              # mlp, gpt-block, convnet; 40 trials each
.venv/bin/python benchmarks/xla_tuning.py --quick      # mlp only, 12 trials, fewer repetitions
.venv/bin/python benchmarks/xla_tuning.py --trials 80 --rounds 50
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

NAME = "xla_tuning"
ORDER = ("mlp", "gpt-block", "convnet")
STATUSES = ("ok", "build_error", "run_error", "timeout", "wrong_result")
MIN_SAMPLE_S = 0.010
MODES = ("each", "last")  # block_until_ready after every call / after the last call of a sample

METHOD = """\
Method. (1) Tuning: `autotune tune --backend xla --model M ... --trials TRIALS --db FRESH
--no-progress`, one subprocess, into a new empty temporary SQLite file; "wall s" is the whole
process (interpreter start to exit). The per-model time breakdown (worker start-up; compile and
run inside the isolated worker; "ours" = the rest of the tuning process's time on that model) is
parsed from the `time ...` lines of the table the command prints; everything else is read from
FRESH with the package API (SQLiteDatabase read-only: model, best, outcomes,
latest_model_measurement). Outcome counts are all measurement rows of the model's workload:
"trials" = source 'tune' (the search, plus the winner's simplification trials), "confirm" = the
interleaved re-timings against the default, by status. (2) Independent re-measurement in this
script's own process (not the tuner's, not its worker): default = jax.jit(fn); tuned =
autotune.jax.jit(fn, db=FRESH), which looks up the best (TuningDatabase.best: the latest
confirmation's winner) and compiles with it; "no wrapper" = the same config compiled by
XlaBuild.jit and called without the TunedFunction wrapper (where the default was kept this is a
second plain jax.jit: an A/A control). Outputs of tuned vs default: allclose, rtol 2e-3, atol 1e-4
* max|ref|. Then ROUNDS rounds; each round takes one sample of every (variant, mode), the order
reversed every other round; one sample = the mean over `number` back-to-back calls, `number` set
after warm-up so that the fastest sample lasts >= 10 ms. Two modes: "latency" waits for every call
(jax.block_until_ready: a sample is call latency including dispatch); "pipelined" waits only after
the last call of the sample, as the tuner's worker times candidates (dispatch may overlap the
previous call's compute). Medians per variant; speedup = median of the per-round ratios
default/variant, with their p25-p75. "tuner's own" = the end-to-end figure the tuning job stored
(its worker, pipelined, 20 rounds). (3) Compile-time cost in this process: first call (trace,
lower, compile, run once, wait) of plain jax.jit; of the tuned config compiled without the wrapper
(XlaBuild.from_config(config).jit, the from_config outside the timing); of autotune.jax.jit with
FRESH; of autotune.jax.jit with a path that does not exist (no database: the wrapper lowers and
fingerprints, then plain jax.jit). Each on a new lambda wrapping fn after jax.clear_caches(),
CREPS rounds in rotated order; medians, and "extra" = the median (p25..p75) of per-round
differences: ours (FRESH) - the same config without the wrapper, ours (no db) - jax.jit (a tuned
config itself compiles faster or slower than XLA's default, so only these differences isolate the
wrapper). lookup_s = what the wrapper times inside itself (fingerprint of the lowering + the SQL
lookup; the lowering is not in it): "warm" = the connection already open in this process (LOOKUPS
new TunedFunction objects of the same fn, whose compiles XLA's cache makes free), "cold store" =
the same after clearing the wrapper's per-process connection cache
(autotune.backends.xla.loader._store.cache_clear(): opens the file, finds the target row, then
looks up), "(2) first call" = the lookup of the first call in (2) (for the first model: the first
lookup of this process, which also imports the lookup's modules), "no db" = the fingerprint alone;
"from_config" = XlaBuild.from_config(config, workload meta), which the wrapper runs after lookup_s
when a config was found (median of LOOKUPS). Dispatch overhead: the wrapper with no database
(plain jax.jit inside) vs jax.jit(fn), the same default config, interleaved as in (2), ROUNDS
rounds; "extra" = the median of per-round differences (the wrapper's own per-call cost). The
machine is shared and noisy (2 cores): compare ratios and differences taken within one round, not
absolute times across runs.
"""


# --------------------------------------------------------------------------------------
# 1. the tuning run
# --------------------------------------------------------------------------------------
_ROW = re.compile(r"^(\S+)\s+xla\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")
_TIME = re.compile(
    r"^\s+time ([\d.]+) s: worker start ([\d.]+), compile ([\d.]+), run ([\d.]+), "
    r"cost model ([\d.]+), autotune ([\d.]+)"
)


def parse_table(stdout: str) -> dict[str, dict[str, Any]]:
    """Per model: the row of `autotune tune`'s table, its `best:` and `time ...` lines."""
    rows: dict[str, dict[str, Any]] = {}
    cur: dict[str, Any] | None = None
    for ln in stdout.splitlines():
        if m := _ROW.match(ln):
            cur = rows[m.group(1)] = dict(
                zip(
                    ("status", "subgraphs", "trials", "failed", "default_ms", "tuned_ms", "speedup"),
                    m.groups()[1:],
                )
            )
        elif cur is not None and (m := _TIME.match(ln)):
            keys = ("total_s", "worker_startup_s", "compile_s", "run_s", "costmodel_s", "ours_s")
            cur["time"] = {k: float(v) for k, v in zip(keys, m.groups())}
        elif cur is not None and ln.startswith("  best:"):
            cur["best"] = ln.split(":", 1)[1].strip()
        elif cur is not None and ln.startswith("  error:"):
            cur["error"] = ln.split(":", 1)[1].strip()
    return rows


def run_tune(models: list[str], trials: int, db: Path, log: Path) -> dict[str, Any]:
    cmd = [C.AUTOTUNE_CLI, "tune", "--backend", "xla"]
    for m in models:
        cmd += ["--model", m]
    cmd += ["--trials", str(trials), "--db", str(db), "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=C.ROOT)
    wall = time.perf_counter() - t0
    log.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return {
        "command": " ".join(os.path.relpath(c, C.ROOT) if c.startswith(str(C.ROOT)) else c for c in cmd),
        "rc": proc.returncode,
        "wall_s": wall,
        "stdout": proc.stdout,
        "stderr_tail": proc.stderr[-3000:],
        "rows": parse_table(proc.stdout),
    }


def describe(config: dict[str, Any] | None) -> str:
    if not config:
        return "XLA default kept (nothing beat it by >2%)"
    return ", ".join(f"{k}={v}" for k, v in sorted(config.items()))


def read_db(path: Path, models: list[str]) -> dict[str, dict[str, Any]]:
    """What the tuning run left in the database, per model."""
    from autotune.db.sqlite import SQLiteDatabase

    db = SQLiteDatabase(path, readonly=True)
    try:
        tid = db.targets()[0][0]
        out = {}
        for name in models:
            m = db.model(name, "xla")
            if m is None:
                out[name] = {"error": "model not in the database"}
                continue
            wl = m["workloads"][0][0]
            best = db.best(wl["id"], tid)
            rows = db.outcomes(wl["id"], tid)
            meas = db.latest_model_measurement(m["id"], tid)
            out[name] = {
                "workload_id": wl["id"],
                "fingerprint": wl["fingerprint"],
                "meta": wl["meta"],
                "best_config": best.config if best else {},
                "best_median_s": best.median if best else None,
                "by_status": {s: sum(r["status"] == s for r in rows) for s in STATUSES},
                "by_source": dict(Counter(r["source"] for r in rows)),
                "distinct_configs": len({r["config"] for r in rows}),
                "errors": sorted(
                    {(r["status"], (r["error"] or "")[:160]) for r in rows if r["status"] != "ok"}
                ),
                "model_measurement": None
                if meas is None
                else {k: meas[k] for k in ("default_median", "tuned_median", "speedup")},
            }
        return out
    finally:
        db.close()


# --------------------------------------------------------------------------------------
# 2. and 3. timing in this process
# --------------------------------------------------------------------------------------
def _sample(f: Callable, args: tuple, number: int, mode: str) -> float:
    """Seconds per call over `number` back-to-back calls; mode 'each' waits for every call,
    'last' only for the last one (XLA's CPU runtime may then overlap dispatch with compute)."""
    import jax

    t = time.perf_counter()
    if mode == "each":
        for _ in range(number):
            jax.block_until_ready(f(*args))
    else:
        for _ in range(number):
            out = f(*args)
        jax.block_until_ready(out)
    return (time.perf_counter() - t) / number


def interleaved(variants: dict[str, Callable], args: tuple, rounds: int) -> dict[str, Any]:
    """Seconds per call of each variant in both modes: `rounds` rounds, one sample of each
    (variant, mode) per round, the order reversed every other round."""
    keys = [(n, mode) for n in variants for mode in MODES]
    for n, mode in keys:  # warm-up
        _sample(variants[n], args, 5, mode)
    one = min(min(_sample(variants[n], args, 5, mode) for _ in range(3)) for n, mode in keys)
    number = max(1, math.ceil(MIN_SAMPLE_S / max(one, 1e-7)))  # the fastest sample lasts >= 10 ms
    for n, mode in keys:
        _sample(variants[n], args, number, mode)
    samples: dict[str, dict[str, list[float]]] = {mode: {n: [] for n in variants} for mode in MODES}
    for r in range(rounds):
        for n, mode in keys if r % 2 == 0 else reversed(keys):
            samples[mode][n].append(_sample(variants[n], args, number, mode))
    med = {mode: {n: C.median(v) for n, v in s.items()} for mode, s in samples.items()}
    return {"number": number, "samples": samples, "median": med}


def outputs_match(out: Any, ref: Any) -> tuple[bool, float]:
    """(match, max |difference| / max |ref|) over every output leaf."""
    import jax
    import numpy as np

    ok, worst = True, 0.0
    for a, b in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(ref)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        ok &= a.shape == b.shape and bool(np.allclose(a, b, rtol=2e-3, atol=1e-4 * scale))
        worst = max(worst, float(np.max(np.abs(a - b))) / max(scale, 1e-30) if a.size else 0.0)
    return ok, worst


def remeasure(name: str, db: Path, rounds: int, meta: dict[str, Any]) -> dict[str, Any]:
    import jax

    import autotune.jax
    from autotune import zoo
    from autotune.backends.xla.build import XlaBuild

    m = zoo.create(name, backend="xla")
    args = tuple(m.example_args)
    default = jax.jit(m.fn)
    tuned = autotune.jax.jit(m.fn, db=db)
    t0 = time.perf_counter()
    out_t = jax.block_until_ready(tuned(*args))
    first_s = time.perf_counter() - t0
    look = tuned.last
    ref = jax.block_until_ready(default(*args))
    match, err = outputs_match(out_t, ref)
    # "tuned, no wrapper": the same config without TunedFunction (with {} a second plain jax.jit)
    variants = {
        "default": default,
        "tuned": tuned,
        "tuned, no wrapper": XlaBuild.from_config(look.config, meta).jit(m.fn, args),
    }
    t = interleaved(variants, args, rounds)
    res = {
        "config": look.config,
        "reason": look.reason,
        "fingerprint": look.fingerprint,
        "first_call_s": first_s,
        "first_lookup_s": look.lookup_s,
        "outputs_match": match,
        "max_rel_error": err,
        **t,
        "ratios": {},
    }
    for mode, s in t["samples"].items():
        res["ratios"][mode] = {}
        for n in ("tuned", "tuned, no wrapper"):
            ratios = [a / b for a, b in zip(s["default"], s[n])]
            res["ratios"][mode][n] = {
                "speedup": C.median(ratios),
                "p25": C.pct(ratios, 25),
                "p75": C.pct(ratios, 75),
            }
    return res


def compile_costs(
    name: str, db: Path, missing: Path, meta: dict[str, Any], reps: int, lookups: int, rounds: int
) -> dict[str, Any]:
    import jax

    import autotune.jax
    from autotune import zoo
    from autotune.backends.xla import loader
    from autotune.backends.xla.build import XlaBuild

    m = zoo.create(name, backend="xla")
    args = tuple(m.example_args)
    probe = autotune.jax.jit(m.fn, db=db)
    probe(*args)
    config = probe.last.config

    def fresh() -> Callable:
        return lambda *a, _f=m.fn: _f(*a)

    makers: dict[str, Callable[[], Any]] = {
        "jax.jit": lambda: jax.jit(fresh()),
        "same config, no wrapper": lambda: XlaBuild.from_config(config, meta).jit(fresh(), args),
        "autotune.jax.jit (FRESH)": lambda: autotune.jax.jit(fresh(), db=db),
        "autotune.jax.jit (no db)": lambda: autotune.jax.jit(fresh(), db=missing),
    }
    names = list(makers)
    first: dict[str, list[float]] = {n: [] for n in names}
    inner: dict[str, list[float]] = {n: [] for n in names if n.startswith("autotune")}
    applied = set()
    for r in range(reps):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            jax.clear_caches()
            f = makers[n]()  # not timed (XlaBuild.from_config included)
            t0 = time.perf_counter()
            jax.block_until_ready(f(*args))
            first[n].append(time.perf_counter() - t0)
            if n in inner:
                inner[n].append(f.last.lookup_s)
            if "FRESH" in n:
                applied.add(bool(f.last.config))
    pairs = {
        "FRESH vs same config": ("autotune.jax.jit (FRESH)", "same config, no wrapper"),
        "no db vs jax.jit": ("autotune.jax.jit (no db)", "jax.jit"),
        "same config vs jax.jit": ("same config, no wrapper", "jax.jit"),
    }
    diffs = {k: [x - y for x, y in zip(first[a], first[b])] for k, (a, b) in pairs.items()}
    extra = {k: C.median(d) for k, d in diffs.items()}  # the wrapper's compile-time cost, per round
    extra_iqr = {k: (C.pct(d, 25), C.pct(d, 75)) for k, d in diffs.items()}
    warm, cold, apply = [], [], []
    for _ in range(lookups):
        f = autotune.jax.jit(m.fn, db=db)
        f(*args)
        warm.append(f.last.lookup_s)
    for _ in range(lookups):
        loader._store.cache_clear()
        f = autotune.jax.jit(m.fn, db=db)
        f(*args)
        cold.append(f.last.lookup_s)
    for _ in range(lookups if config else 0):  # what the wrapper does after lookup_s when tuned
        t0 = time.perf_counter()
        XlaBuild.from_config(config, meta)
        apply.append(time.perf_counter() - t0)
    plain = jax.jit(m.fn)
    wrapper = autotune.jax.jit(m.fn, db=missing)
    return {
        "first_call_s": first,
        "first_call_median_s": {n: C.median(v) for n, v in first.items()},
        "extra_s": extra,
        "extra_p25_p75_s": extra_iqr,
        "first_call_lookup_s": inner,
        "tuned_config_applied": sorted(applied),
        "lookup_warm_s": warm,
        "lookup_cold_store_s": cold,
        "from_config_s": apply,
        "dispatch": interleaved({"jax.jit": plain, "autotune.jax.jit": wrapper}, args, rounds),
    }


def open_costs(db: Path, reps: int) -> dict[str, list[float]]:
    """What a cold store adds to a lookup: opening the file read-only, finding the target row."""
    from autotune.backends.xla.workload import target_info
    from autotune.db.sqlite import SQLiteDatabase

    out: dict[str, list[float]] = {"open_s": [], "find_target_s": []}
    for _ in range(reps):
        t0 = time.perf_counter()
        d = SQLiteDatabase(db, readonly=True)
        t1 = time.perf_counter()
        d.find_target(target_info("cpu"))
        t2 = time.perf_counter()
        d.close()
        out["open_s"].append(t1 - t0)
        out["find_target_s"].append(t2 - t1)
    return out


def median_diff(a: list[float], b: list[float]) -> float:
    return C.median([x - y for x, y in zip(a, b)])


# --------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------
def ms(s: float | None) -> float | None:
    return None if s is None else s * 1e3


def us(s: float | None) -> float | None:
    return None if s is None else s * 1e6


def _extra(ex: dict[str, float], iqr: dict[str, Any], key: str) -> str:
    lo, hi = iqr[key]
    return f"{ex[key] * 1e3:+.1f} ({lo * 1e3:+.0f}..{hi * 1e3:+.0f})"


def report(res: dict[str, Any], models: list[str], method: str) -> str:
    tune, db, rem, comp = res["tune"], res["db"], res["remeasure"], res["compile"]
    out = [C.wrap(method), "", f"tuning run: {tune['command']}"]
    out.append(f"  {tune['wall_s']:.1f} s wall for {len(models)} model(s) (rc {tune['rc']})")
    out += ["", "(1) where tuning time went (seconds, fraction of the model's total)"]
    rows = []
    for n in models:
        t = tune["rows"].get(n, {}).get("time")
        if not t:
            rows.append([n, *["-"] * 5])
            continue
        tot = t["total_s"] or float("nan")
        rows.append(
            [n, t["total_s"]]
            + [
                f"{t[k]:.1f} ({t[k] / tot:.0%})"
                for k in ("worker_startup_s", "compile_s", "run_s", "costmodel_s", "ours_s")
            ]
        )
    out.append(C.table(["model", "total s", "worker start", "compile", "run", "cost model", "ours"], rows))
    out += ["", "outcomes in the database (every measurement row of the model's workload)"]
    rows = []
    for n in models:
        d = db.get(n, {})
        st, src = d.get("by_status", {}), d.get("by_source", {})
        rows.append(
            [n, src.get("tune", 0), src.get("confirm", 0), d.get("distinct_configs")]
            + [st.get(s, 0) for s in STATUSES]
        )
    out.append(C.table(["model", "trials", "confirm", "configs", *STATUSES], rows))
    for n in models:
        for status, err in db.get(n, {}).get("errors", []):
            out.append(f"  {n} {status}: {err}")
    titles = {
        "each": "latency: block_until_ready after every call",
        "last": "pipelined: block_until_ready after the last call of a sample (as the tuner's worker)",
    }
    for mode in MODES:
        out += ["", f"(2) tuned vs XLA default, re-measured in this process; {titles[mode]}"]
        rows = []
        for n in models:
            r, mm = rem[n], db[n].get("model_measurement") or {}
            q, qn = r["ratios"][mode]["tuned"], r["ratios"][mode]["tuned, no wrapper"]
            rows.append(
                [
                    n,
                    ms(r["median"][mode]["default"]),
                    ms(r["median"][mode]["tuned"]),
                    f"{q['speedup']:.3f}x",
                    f"{q['p25']:.3f}-{q['p75']:.3f}",
                    ms(r["median"][mode]["tuned, no wrapper"]),
                    f"{qn['speedup']:.3f}x",
                    f"{mm['speedup']:.3f}x" if mm.get("speedup") else "-",
                    "yes" if r["outputs_match"] else "NO",
                    r["number"],
                ]
            )
        heads = ["model", "default ms", "tuned ms", "speedup", "p25-p75", "no wrapper ms", "speedup"]
        out.append(C.table([*heads, "tuner's own", "outputs", "calls/sample"], rows))
    out.append("  (no wrapper: the same config compiled by XlaBuild.jit, called without TunedFunction)")
    for n in models:
        r = rem[n]
        ok = r["config"] == db[n]["best_config"]
        out.append(f"  {n}: {describe(r['config'])}" + ("" if ok else "  (!= the database's best)"))
    out += ["", "(3) compile-time cost: first call (trace, lower, compile, run once), median ms"]
    rows = []
    for n in models:
        c = comp[n]
        fm, ex, iqr = c["first_call_median_s"], c["extra_s"], c["extra_p25_p75_s"]
        rows.append(
            [
                n,
                ms(fm["jax.jit"]),
                ms(fm["same config, no wrapper"]),
                ms(fm["autotune.jax.jit (FRESH)"]),
                _extra(ex, iqr, "FRESH vs same config"),
                ms(fm["autotune.jax.jit (no db)"]),
                _extra(ex, iqr, "no db vs jax.jit"),
                len(c["first_call_s"]["jax.jit"]),
            ]
        )
    heads = ["model", "jax.jit", "tuned config, no wrapper", "ours (FRESH)", "extra", "ours (no db)", "extra"]
    out.append(C.table([*heads, "rounds"], rows))
    out.append(
        "  extra = median (p25..p75) of per-round differences: ours (FRESH) - the same config without"
        " the wrapper; ours (no db) - jax.jit"
    )
    out += [
        "",
        "lookup_s (fingerprint + SQL, timed inside the wrapper) and applying the config, median ms (p90)",
    ]
    rows = []
    for n in models:
        c = comp[n]
        w, cs, fc = c["lookup_warm_s"], c["lookup_cold_store_s"], c["from_config_s"]
        nodb = c["first_call_lookup_s"]["autotune.jax.jit (no db)"]
        rows.append(
            [
                n,
                f"{ms(C.median(w)):.3f} ({ms(C.pct(w, 90)):.3f})",
                f"{ms(C.median(cs)):.3f} ({ms(C.pct(cs, 90)):.3f})",
                f"{ms(C.median(nodb)):.3f}",
                f"{ms(rem[n]['first_lookup_s']):.3f}",
                f"{ms(C.median(fc)):.3f}" if fc else "- (default)",
                f"{ms(C.median(w) + (C.median(fc) if fc else 0.0)):.3f}",
            ]
        )
    heads = [
        "model",
        "warm",
        "cold store",
        "no db (fingerprint)",
        "(2) first call",
        "from_config",
        "warm+apply",
    ]
    out.append(C.table(heads, rows))

    def under(get: Callable[[dict[str, Any]], float]) -> str:
        return ", ".join(f"{n} {'yes' if get(comp[n]) < 1e-3 else 'NO'}" for n in models)

    def with_apply(c: dict[str, Any]) -> float:
        return C.median(c["lookup_warm_s"]) + (C.median(c["from_config_s"]) if c["from_config_s"] else 0.0)

    out.append(f"  target < 1 ms: warm lookup_s: {under(lambda c: C.median(c['lookup_warm_s']))}")
    out.append(f"                 warm lookup_s + from_config: {under(with_apply)}")
    out.append(f"                 cold store: {under(lambda c: C.median(c['lookup_cold_store_s']))}")
    oc = res["open"]
    out.append(
        f"  cold store = open the file read-only {ms(C.median(oc['open_s'])):.3f} ms + find the target row "
        f"{ms(C.median(oc['find_target_s'])):.3f} ms (medians of {len(oc['open_s'])}) + the warm lookup"
    )
    out.append(
        f"  first lookup in this process (imports + open + target + SQL): {ms(res['first_lookup_s']):.2f} ms"
    )
    out += ["", "dispatch overhead of the wrapper (no database: plain jax.jit inside), us per call"]
    rows = []
    for n in models:
        d = comp[n]["dispatch"]
        row: list[Any] = [n]
        for mode in MODES:
            a, b = d["samples"][mode]["jax.jit"], d["samples"][mode]["autotune.jax.jit"]
            row += [
                us(C.median(a)),
                us(C.median(b)),
                f"{us(median_diff(b, a)):+.1f}",
                f"{C.paired_ratio(b, a):.2f}x",
            ]
        rows.append([*row, d["number"]])
    heads = ["jax.jit", "wrapper", "extra", "ratio"]
    out.append(
        C.table(
            ["model", *[f"{h} ({m})" for m in MODES for h in heads], "calls/sample"],
            rows,
        )
    )
    return "\n".join(out)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=40, help="trials per model (default 40)")
    p.add_argument("--rounds", type=int, default=30, help="interleaved rounds of (2) (default 30)")
    p.add_argument("--compile-reps", type=int, default=12, help="rounds of first-call timing (default 12)")
    p.add_argument("--lookups", type=int, default=20, help="lookup_s samples per kind (default 20)")
    p.add_argument("--models", default=",".join(ORDER), help="comma-separated XLA zoo models")
    p.add_argument("--quick", action="store_true", help="mlp only, 12 trials, fewer repetitions")
    p.add_argument("--keep", action="store_true", help="keep the temporary database and log")
    args = p.parse_args(argv)
    if args.quick:
        args.models, args.trials, args.rounds, args.compile_reps, args.lookups = "mlp", 12, 10, 4, 10

    from autotune import zoo

    known = zoo.names(backend="xla")
    models = [m for m in args.models.split(",") if m]
    if unknown := [m for m in models if m not in known]:
        p.error(f"unknown XLA model(s) {unknown}; the zoo has {known}")
    tmp = Path(tempfile.mkdtemp(prefix="autotune-xla-bench-"))
    db, missing = tmp / "fresh.sqlite", tmp / "does-not-exist.sqlite"
    started = time.time()
    res: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k != "keep"}, "models": models}
    try:
        print(
            f"[{time.time() - started:4.0f} s] tuning {', '.join(models)} ({args.trials} trials) ...",
            flush=True,
        )
        res["tune"] = run_tune(models, args.trials, db, tmp / "tune.log")
        print(
            f"[{time.time() - started:4.0f} s]   rc {res['tune']['rc']}, {res['tune']['wall_s']:.0f} s",
            flush=True,
        )
        if res["tune"]["rc"] != 0:
            print(res["tune"]["stdout"] + res["tune"]["stderr_tail"])
            return 1
        res["db"] = read_db(db, models)
        import jax
        import jaxlib

        res["jax"] = {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "backend": jax.default_backend()}
        res["remeasure"], res["compile"] = {}, {}
        for n in models:
            print(f"[{time.time() - started:4.0f} s] re-measuring {n} ...", flush=True)
            res["remeasure"][n] = remeasure(n, db, args.rounds, res["db"][n]["meta"])
            if "first_lookup_s" not in res:
                res["first_lookup_s"] = res["remeasure"][n]["first_lookup_s"]
        for n in models:
            print(f"[{time.time() - started:4.0f} s] compile and lookup cost of {n} ...", flush=True)
            res["compile"][n] = compile_costs(
                n, db, missing, res["db"][n]["meta"], args.compile_reps, args.lookups, args.rounds
            )
        res["open"] = open_costs(db, args.lookups)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for d in res["db"].values():
        d.pop("meta", None)  # HLO text: large, and in the database anyway
    method = (
        METHOD.replace("TRIALS", str(args.trials))
        .replace("ROUNDS", str(args.rounds))
        .replace("CREPS", str(args.compile_reps))
        .replace("LOOKUPS", str(args.lookups))
    )
    text = report(res, models, method)
    print()
    print(text)
    out = C.write_result(NAME + ("-quick" if args.quick else ""), method, res, text, argv)
    print(f"\nwrote {os.path.relpath(out, C.ROOT)}")
    ok = all(r["outputs_match"] for r in res["remeasure"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
