"""XLA: graph-level decisions only, subgraph-level only, and both jointly, at one trial budget,
against XLA's default, on the JAX zoo and two models the cost model never saw.

.venv/bin/python benchmarks/joint_xla.py                       # 3 zoo models + mixer, sepconv
.venv/bin/python benchmarks/joint_xla.py --models mlp --trials 16 --rounds 11
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

NAME = "joint_xla"
ZOO = ("mlp", "gpt-block", "convnet")
HELD_OUT = ("benchmarks/jax_models.py:mixer", "benchmarks/jax_models.py:sepconv")
LEVELS = {"graph only": "graph", "subgraph only": "subgraph", "joint": "graph,subgraph"}
MIN_SAMPLE_S = 0.02

METHOD = """\
Method. Per model and per level set, one `autotune tune --backend xla --model M --trials TRIALS
--levels L --db FRESH --no-progress` subprocess into its own new SQLite file: "graph only" searches
XLA's compiler options, HLO passes and argument/result layouts; "subgraph only" the layouts of
tensors inside the program and fusion cuts (rewrites of the traced jaxpr); "joint" both in one
search (staged: the graph-level decisions first, then single changes of the subgraph-level ones
under the best, at most a quarter of the trials, handed back after 4 probes without a win).
Each job measures its own default, searches, confirms its fastest candidates
interleaved against the default and keeps one only if it wins by 2%. "tune s" is the
subprocess's wall clock. Then, in this process: XLA's default (jax.jit) and, per level set,
autotune.jax.jit(fn, db=FRESH), each output checked against the default
(autotune.compare.mismatch), timed interleaved: ROUNDS rounds, each one sample of every
contender in an order rotated every round, one sample = the mean over >= 20 ms of
back-to-back calls waited on after the last (as the tuner's worker times). Reported: medians, and
the median over rounds of the paired ratio default / contender ("x default": above 1, faster
than XLA's default); geomeans of "x default" over the zoo models and over all."""


def _name(source: str) -> str:
    return source.rsplit(":", 1)[-1]


def tune(source: str, trials: int, levels: str, db: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [C.AUTOTUNE_CLI, "tune", "--backend", "xla", "--model", source, "--trials", str(trials),
         "--levels", levels, "--db", str(db), "--no-progress"],
        capture_output=True, text=True, cwd=C.ROOT,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"tune {source} --levels {levels} failed: {proc.stderr[-2000:]}")
    return {"tune_s": time.perf_counter() - t0, "best": best_config(db, source)}


def best_config(db: Path, source: str) -> dict[str, Any]:
    from autotune.db import open_db

    with open_db(db, readonly=True) as store:
        m = store.model(source, "xla")
        ((tid, _),) = store.targets()
        ((w, _),) = m["workloads"]
        best = store.best(w["id"], tid)
        return {
            "config": best.config if best else {},
            "confirmed": best.speedup if best else None,
            "trials": store.count(w["id"], tid),
        }


def _timer(f: Any, args: tuple) -> Any:
    import jax

    jax.block_until_ready(f(*args))
    t0, n = time.perf_counter(), 0
    while n == 0 or time.perf_counter() - t0 < MIN_SAMPLE_S / 4:
        jax.block_until_ready(f(*args))
        n += 1
    number = max(1, int(MIN_SAMPLE_S / ((time.perf_counter() - t0) / n)) + 1)

    def sample() -> float:
        t = time.perf_counter()
        for _ in range(number):
            out = f(*args)
        jax.block_until_ready(out)
        return (time.perf_counter() - t) / number

    return sample


def measure(source: str, dbs: dict[str, Path], rounds: int) -> dict[str, Any]:
    import jax
    import numpy as np

    import autotune.jax
    from autotune import compare, zoo

    m = zoo.create(source, backend="xla")
    args = tuple(m.example_args)
    fns = {"XLA default": jax.jit(m.fn)}
    fns.update({k: autotune.jax.jit(m.fn, db=db) for k, db in dbs.items()})
    leaves = lambda t: [np.asarray(x) for x in jax.tree_util.tree_leaves(t)]
    ref = leaves(fns["XLA default"](*args))
    wrong = {k: compare.mismatch(leaves(f(*args)), ref) for k, f in fns.items()}
    applied = {k: (f.last.config if hasattr(f, "last") and f.last else {}) for k, f in fns.items()}
    timers = {k: _timer(f, args) for k, f in fns.items()}
    samples = C.interleave(timers, rounds)
    return {
        k: {
            "median_s": C.median(samples[k]),
            "x_default": C.paired_ratio(samples["XLA default"], samples[k]),
            "wrong": wrong[k],
            "decisions": len(applied[k]),
        }
        for k in timers
    }


def run_model(source: str, trials: int, rounds: int, work: Path) -> dict[str, Any]:
    tuned, dbs = {}, {}
    for label, levels in LEVELS.items():
        dbs[label] = work / f"{_name(source)}-{levels.replace(',', '+')}.sqlite"
        tuned[label] = tune(source, trials, levels, dbs[label])
    return {"trials": trials, "tuned": tuned, "rows": measure(source, dbs, rounds)}


def _geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def render(source: str, r: dict[str, Any]) -> str:
    rows = []
    for k, v in r["rows"].items():
        t = r["tuned"].get(k)
        rows.append(
            [k, v["median_s"] * 1e3, f"{v['x_default']:.2f}x", v["wrong"] or "ok", v["decisions"],
             f"{t['tune_s']:.0f}" if t else "-", t["best"]["trials"] if t else "-"]
        )  # fmt: skip
    return f"{_name(source)}: {r['trials']} trials per level set\n" + C.table(
        ["contender", "ms", "x default", "output", "decisions", "tune s", "trials"], rows
    )


def summary(results: dict[str, Any]) -> str:
    lines = []
    for label in LEVELS:
        zoo = [results[s]["rows"][label]["x_default"] for s in results if s in ZOO]
        every = [r["rows"][label]["x_default"] for r in results.values()]
        lines.append(f"{label}: geomean x default {_geomean(zoo):.3f} (zoo), {_geomean(every):.3f} (all)")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(ZOO + HELD_OUT))
    ap.add_argument("--trials", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--results", default=NAME, help="name of the results file (benchmarks/results/NAME.json)")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="autotune-joint-xla-") as tmp:
        for source in models:
            results[source] = run_model(source, args.trials, args.rounds, Path(tmp))
            print(render(source, results[source]), flush=True)
    method = METHOD.replace("ROUNDS", str(args.rounds)).replace("TRIALS", str(args.trials))
    text = "\n\n".join([C.wrap(method), *(render(k, r) for k, r in results.items()), summary(results)])
    C.write_result(args.results, method, results, text, sys.argv[1:], script=f"benchmarks/{NAME}.py")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
