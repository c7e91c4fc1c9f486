"""The joint graph + subgraph search against subgraph-only tuning, on TVM zoo models.

.venv/bin/python benchmarks/joint.py                              # bert-tiny and convnet
.venv/bin/python benchmarks/joint.py --models bert-tiny --trials 96 --graph-trials 4
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

NAME = "joint"

METHOD = """\
Method. Per model, two `autotune tune JOB --db FRESH --no-progress` subprocesses on one fresh
SQLite file (job: the model at TRIALS trials, baselines = [], everything else the job file's
defaults): (1) subgraph only, graph_trials = 0 (the file is copied after it); (2) the same
job with graph_trials = G: its subgraphs are tuned already, so only the joint search runs: G
graph-level configs of the model (TVM conv layouts, ops kept out of fusion, GELU form;
exhaustive for a space of at most G, else TPE), each config's new subgraphs tuned with the
model's mean trials per subgraph, the fastest confirmed interleaved against the model's own
graph. "tune s" is each subprocess's wall clock; "trials" the candidates measured (for the
joint search: graph configs plus its new subgraphs' trials). Then, in this process: TVM's
default build (untuned), the subgraph-only build (autotune.tvm.compile with file 1), the joint
build (with file 2) and PyTorch eager (torch.set_num_threads = the cores), each output checked
against TVM's default build (autotune.compare.mismatch), timed interleaved: ROUNDS rounds, each
one sample of every contender in an order rotated every round, one sample = the mean over at
least 50 ms of back-to-back runs after a warm-up. Reported: medians, and the median over rounds
of the paired ratio subgraph-only / contender ("x sub": above 1, faster than subgraph-only)
and torch / contender ("x torch")."""


def _job(path: Path, model: str, trials: int, graph_trials: int) -> None:
    path.write_text(
        "[job]\n"
        f"graph_trials = {graph_trials}\n"
        "baselines = []\n"
        "time_budget_s = 7200\n"
        f'[[models]]\nname = "{model}"\ntrials = {trials}\n'
    )


def _tune(job: Path, db: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [C.AUTOTUNE_CLI, "tune", str(job), "--db", str(db), "--no-progress"],
        capture_output=True,
        text=True,
        cwd=C.ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"tune failed (rc {proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - t0, proc.stdout


def _trials(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM measurements WHERE source='tune'").fetchone()[0])


def _graph_best(db: Path, model: str) -> dict[str, Any]:
    from autotune.db import open_db

    with open_db(db, readonly=True) as store:
        m = store.model(model, "tvm")
        ((tid, _),) = [t for t in store.targets() if t[1].compiler == "tvm"]
        for w, _ in m["workloads"]:
            if w["compiler"] == "tvm-graph":
                best = store.best(w["id"], tid)
                configs = sum(o["source"] == "tune" for o in store.outcomes(w["id"], tid))
                return {
                    "configs": configs,
                    "best": best.config if best else {},
                    "confirmed_speedup": best.speedup if best else None,
                }
    return {"configs": 0, "best": {}, "confirmed_speedup": None}


def _torch_timer(module: Any, args: tuple, min_ms: float) -> Any:
    import torch

    def sample() -> float:
        with torch.no_grad():
            module(*args)
            n, t0 = 0, time.perf_counter()
            while True:
                module(*args)
                n += 1
                if (time.perf_counter() - t0) * 1e3 >= min_ms:
                    return (time.perf_counter() - t0) / n

    return sample


def measure(model: str, dbs: dict[str, Path], rounds: int) -> dict[str, Any]:
    import torch

    import autotune.tvm
    from autotune import compare, zoo
    from autotune.backends.tvm import importer, measure
    from autotune.backends.tvm.workload import resolve_target

    m = zoo.create(model)
    target = resolve_target("llvm")
    cores = int(target.export().get("num-cores", 1))
    torch.set_num_threads(cores)
    mod = importer.to_relax(m.module, m.example_inputs)
    x = [t.numpy() for t in m.example_inputs]
    builds = {"TVM default": importer.build_default(mod, target)}
    for label, db in dbs.items():
        builds[label] = autotune.tvm.compile(mod, target, db=str(db))
    reference = importer.run(builds["TVM default"], x)
    wrong = {k: compare.mismatch(importer.run(ex, x), reference) for k, ex in builds.items()}
    timers = {k: measure.time_vm(ex, x) for k, ex in builds.items()}
    timers["PyTorch eager"] = _torch_timer(m.module.eval(), tuple(m.example_inputs), 50.0)
    samples = C.interleave(timers, rounds, pause_s=0.05)
    rows = {}
    for k in timers:
        rows[k] = {
            "median_s": C.median(samples[k]),
            "x_sub": C.paired_ratio(samples["subgraph only"], samples[k]),
            "x_torch": C.paired_ratio(samples["PyTorch eager"], samples[k]),
            "wrong": wrong.get(k, ""),
            "samples": len(samples[k]),
        }
    return rows


def run_model(model: str, trials: int, graph_trials: int, rounds: int, work: Path) -> dict[str, Any]:
    db = work / f"{model}.sqlite"
    job = work / f"{model}.toml"
    _job(job, model, trials, 0)
    sub_s, sub_out = _tune(job, db)
    sub_trials = _trials(db)
    with sqlite3.connect(db) as a, sqlite3.connect(work / f"{model}.sub.sqlite") as b:
        a.backup(b)  # a consistent copy, its WAL included
    _job(job, model, trials, graph_trials)
    joint_s, joint_out = _tune(job, db)
    res = {
        "trials": trials,
        "graph_trials": graph_trials,
        "tune_s": {"subgraph only": sub_s, "joint (its graph pass)": joint_s},
        "tune_trials": {"subgraph only": sub_trials, "joint (its graph pass)": _trials(db) - sub_trials},
        "graph": _graph_best(db, model),
        "job_lines": [ln for ln in joint_out.splitlines() if ln.strip().startswith("graph:")],
    }
    res["rows"] = measure(model, {"subgraph only": work / f"{model}.sub.sqlite", "joint": db}, rounds)
    res["date"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return res


def render(model: str, r: dict[str, Any]) -> str:
    rows = [
        [k, v["median_s"] * 1e3, f"{v['x_sub']:.2f}x", f"{v['x_torch']:.2f}x", v["wrong"] or "ok"]
        for k, v in r["rows"].items()
    ]
    g = r["graph"]
    lines = [
        f"{model}: {r['trials']} trials, then {r['graph_trials']} graph-level configs",
        C.table(["contender", "ms", "x sub", "x torch", "output"], rows),
        "tuning: "
        + ", ".join(f"{k} {r['tune_s'][k]:.0f} s / {r['tune_trials'][k]} trials" for k in r["tune_s"]),
        f"joint: {g['configs']} configs measured; kept "
        + (json.dumps(g["best"]) if g["best"] else "the model's own graph")
        + (f" (confirmed {g['confirmed_speedup']:.2f}x)" if g["confirmed_speedup"] else ""),
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="bert-tiny,convnet")
    ap.add_argument("--trials", default="96,64", help="per model, in the order of --models")
    ap.add_argument("--graph-trials", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=11)
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    trials = [int(t) for t in args.trials.split(",")]
    trials += [trials[-1]] * (len(models) - len(trials))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="autotune-joint-") as tmp:
        for model, t in zip(models, trials):
            results[model] = run_model(model, t, args.graph_trials, args.rounds, Path(tmp))
            print(render(model, results[model]), flush=True)
    method = METHOD.replace("ROUNDS", str(args.rounds)).replace("G ", f"G={args.graph_trials} ", 1)
    text = "\n\n".join([C.wrap(method), *(render(k, r) for k, r in results.items())])
    C.write_result(NAME, method, results, text, sys.argv[1:])
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
