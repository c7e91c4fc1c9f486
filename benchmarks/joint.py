"""The joint graph + subgraph search against subgraph-only tuning, on TVM zoo models.

.venv/bin/python benchmarks/joint.py                # bert-tiny, convnet + two held-out models
.venv/bin/python benchmarks/joint.py --models bert-tiny --trials 96 --graph-trials 4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

from autotune.backends.tvm.threads import settle

NAME = "joint"
ZOO = ("bert-tiny", "convnet")
HELD_OUT = ("benchmarks/torch_models.py:vit_block", "benchmarks/torch_models.py:sepconv")

METHOD = """\
Method. Per model, `autotune tune JOB --db FILE --no-progress` subprocesses (job: the model at
TRIALS trials, baselines = [], everything else the job file's defaults): (1) subgraph only,
graph_trials = 0, into a fresh file (copied after it); (2) joint: the same job on that file
with graph_trials = G: its subgraphs are tuned already, so only the joint search runs: G
graph-level configs of the model (TVM conv layouts, ops kept out of fusion, GELU form;
exhaustive for a space of at most G, else TPE with the composition cost model measuring the
best-ranked of POOL proposals, the TVM backend's rank_pool), each config's new subgraphs tuned
with the trials the model's own subgraphs they replace were given (split by default time; the
model's mean per subgraph where they replace none), the fastest confirmed interleaved against
the model's own graph; (3) subgraph only at the same trials: the copy of file 1 tuned further,
to as many trials as the joint search measured in all (its subgraphs', its graph configs' and
their new subgraphs'); (4) graph only: a fresh file, levels = ["graph"], graph_trials = G: the
same graph search with every kernel at TVM's default schedule. "tune s" is each subprocess's
wall clock (for the joint search: its graph pass alone), "trials" the candidates measured.
Then, in this process: TVM's default build (untuned), each file's build (autotune.tvm.compile)
and PyTorch eager (torch.set_num_threads = the cores), each output checked against TVM's
default build (autotune.compare.mismatch), timed interleaved: ROUNDS rounds, each one sample of
every contender in an order rotated every round, one sample = the mean over at least 50 ms of
back-to-back runs after a warm-up (PyTorch's once TVM's spinning workers are idle,
autotune.backends.tvm.threads.settle: they starve it otherwise).
Reported: medians, and the median over rounds of the
paired ratio subgraph-only (1) / contender ("x sub": above 1, faster than subgraph-only), the
same for subgraph-only at the same trials (3) ("x same"), and torch / contender ("x torch")."""

SAME = "subgraph only, same trials"


def _job(path: Path, model: str, trials: int, graph_trials: int, levels: str = "") -> None:
    path.write_text(
        "[job]\n"
        f"graph_trials = {graph_trials}\n"
        "baselines = []\n"
        "time_budget_s = 7200\n"
        + (f"levels = {json.dumps(levels.split(','))}\n" if levels else "")
        + f'[[models]]\nname = "{model}"\ntrials = {trials}\n'
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


def _copy(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)  # a consistent copy, its WAL included


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
        settle()  # TVM's workers (spinning here, as the loader leaves them) idle first
        with torch.no_grad():
            module(*args)
            n, t0 = 0, time.perf_counter()
            while True:
                module(*args)
                n += 1
                if (time.perf_counter() - t0) * 1e3 >= min_ms:
                    return (time.perf_counter() - t0) / n

    return sample


def time_builds(
    model: str, dbs: dict[str, Path], rounds: int
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """TVM's default build, each database's build (the compile-time loader) and PyTorch eager of
    a zoo model, outputs checked against TVM's default and timed interleaved in this process:
    (samples by label, output mismatches by label)."""
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
    return C.interleave(timers, rounds, pause_s=0.05), wrong


def measure(model: str, dbs: dict[str, Path], rounds: int) -> dict[str, Any]:
    samples, wrong = time_builds(model, dbs, rounds)
    rows = {}
    for k in samples:
        rows[k] = {
            "median_s": C.median(samples[k]),
            "x_sub": C.paired_ratio(samples["subgraph only"], samples[k]),
            "x_same": C.paired_ratio(samples[SAME], samples[k]) if SAME in samples else None,
            "x_torch": C.paired_ratio(samples["PyTorch eager"], samples[k]),
            "wrong": wrong.get(k, ""),
            "samples": len(samples[k]),
        }
    return rows


def run_model(model: str, trials: int, graph_trials: int, rounds: int, work: Path) -> dict[str, Any]:
    name = model.rsplit(":", 1)[-1]
    db, sub, same, graph = (work / f"{name}{k}.sqlite" for k in ("", ".sub", ".same", ".graph"))
    job = work / f"{name}.toml"
    _job(job, model, trials, 0)
    sub_s, _ = _tune(job, db)
    sub_trials = _trials(db)
    _copy(db, sub)
    _job(job, model, trials, graph_trials)
    joint_s, joint_out = _tune(job, db)
    joint_trials = _trials(db)
    _copy(sub, same)
    _job(job, model, joint_trials, 0)
    same_s, _ = _tune(job, same)
    _job(job, model, trials, graph_trials, levels="graph")
    graph_s, graph_out = _tune(job, graph)
    res = {
        "trials": trials,
        "graph_trials": graph_trials,
        "tune_s": {
            "graph only": graph_s,
            "subgraph only": sub_s,
            SAME: same_s,
            "joint (its graph pass)": joint_s,
        },
        "tune_trials": {
            "graph only": _trials(graph),
            "subgraph only": sub_trials,
            SAME: _trials(same) - sub_trials,
            "joint (its graph pass)": joint_trials - sub_trials,
        },
        "graph": _graph_best(db, model),
        "graph_only": _graph_best(graph, model),
        "job_lines": [ln.strip() for ln in joint_out.splitlines() if ln.strip().startswith("graph:")],
        "graph_only_lines": [ln.strip() for ln in graph_out.splitlines() if ln.strip().startswith("graph:")],
    }
    dbs = {"graph only": graph, "subgraph only": sub, SAME: same, "joint": db}
    res["rows"] = measure(model, dbs, rounds)
    res["date"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return res


def render(model: str, r: dict[str, Any]) -> str:
    def x(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}x"

    rows = [
        [k, v["median_s"] * 1e3, x(v["x_sub"]), x(v.get("x_same")), x(v["x_torch"]), v["wrong"] or "ok"]
        for k, v in r["rows"].items()
    ]
    g = r["graph"]

    def kept(g: dict[str, Any]) -> str:
        return (
            f"{g['configs']} configs measured; kept "
            + (json.dumps(g["best"]) if g["best"] else "the model's own graph")
            + (f" (confirmed {g['confirmed_speedup']:.2f}x)" if g["confirmed_speedup"] else "")
        )

    lines = [
        f"{model}: {r['trials']} trials, then {r['graph_trials']} graph-level configs",
        C.table(["contender", "ms", "x sub", "x same", "x torch", "output"], rows),
        "tuning: "
        + ", ".join(f"{k} {r['tune_s'][k]:.0f} s / {r['tune_trials'][k]} trials" for k in r["tune_s"]),
        f"joint: {kept(g)}",
        *(f"  job: {ln}" for ln in r.get("job_lines", [])),
        f"graph only: {kept(r['graph_only'])}" if "graph_only" in r else "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(ZOO + HELD_OUT))
    ap.add_argument("--trials", default="96,64,48,48", help="per model, in the order of --models")
    ap.add_argument("--graph-trials", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--keep", action="store_true", help="keep the databases (their folder is printed)")
    ap.add_argument("--results", default=NAME, help="name of the results file (benchmarks/results/NAME.json)")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    trials = [int(t) for t in args.trials.split(",")]
    trials += [trials[-1]] * (len(models) - len(trials))
    results: dict[str, Any] = {}
    keep = contextlib.nullcontext(tempfile.mkdtemp(prefix="autotune-joint-")) if args.keep else None
    with keep or tempfile.TemporaryDirectory(prefix="autotune-joint-") as tmp:
        if args.keep:
            print(f"databases in {tmp}", flush=True)
        for model, t in zip(models, trials):
            results[model] = run_model(model, t, args.graph_trials, args.rounds, Path(tmp))
            print(render(model, results[model]), flush=True)
    from autotune import backends

    method = re.sub(r"\bG\b", str(args.graph_trials), METHOD.replace("ROUNDS", str(args.rounds)))
    method = method.replace("POOL", str(backends.get("tvm").rank_pool))
    text = "\n\n".join([C.wrap(method), *(render(k, r) for k, r in results.items())])
    C.write_result(args.results, method, results, text, sys.argv[1:], script=f"benchmarks/{NAME}.py")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
