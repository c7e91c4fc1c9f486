"""The population our cost model ranks per measured candidate (`rank_pool`), on whole models:
what a smaller population costs in tuned latency, and what it saves in tuning time.

.venv/bin/python benchmarks/rank_pool.py          # bert-tiny, 96 trials, pools 4 and 8, 3 runs each
.venv/bin/python benchmarks/rank_pool.py --model mlp --trials 32 --pools 2,4,8 --runs 2
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
from joint import _tune, time_builds

NAME = "rank_pool"

METHOD = """\
Method. For each pool P and run i (RUNS runs, the pools' order alternated run by run so that a
slow phase of the machine falls on both), `autotune tune JOB --db FILE --no-progress` in a
subprocess into a fresh file; the job: the model at TRIALS trials, baselines = [], rank_pool =
P (MetaSchedule's population per generation: P x trials_per_iter, ranked by the shipped GNN),
everything else the defaults. "tune s" is the subprocess's wall clock; "cost model s" and "tune
time" the job's own profile line. Then, in this process: TVM's default build, every file's
build (autotune.tvm.compile) and PyTorch eager (torch.set_num_threads = the cores), each output
checked against TVM's default build, timed interleaved: ROUNDS rounds, each one sample of every
contender in an order rotated every round, one sample = the mean over at least 50 ms of
back-to-back runs after a warm-up (PyTorch's once TVM's spinning workers are idle,
autotune.backends.tvm.threads.settle: they starve it otherwise).
Reported: each build's median, and per pool the mean
and range of its runs' medians, and the median over rounds of the paired ratio eager / build."""


def _profile(stdout: str) -> dict[str, float]:
    """The job's profile line ("time 70.3 s: ..., cost model 3.4, ...") as numbers."""
    line = next((ln.strip() for ln in stdout.splitlines() if ln.strip().startswith("time ")), "")
    head, _, rest = line.partition(":")
    out = {"tune": float(head.split()[1])} if head else {}
    for part in rest.split(","):
        words = part.split()
        if len(words) >= 2:
            try:
                out[" ".join(words[:-1])] = float(words[-1])
            except ValueError:
                pass
    return out


def tune_all(model: str, trials: int, pools: list[int], runs: int, tmp: Path) -> dict[str, Any]:
    """Every (pool, run) job, alternated; label -> {pool, run, db, tune_s, profile}."""
    jobs: dict[str, Any] = {}
    for i in range(runs):
        for pool in pools if i % 2 == 0 else pools[::-1]:
            label = f"pool {pool} #{i + 1}"
            job, db = tmp / f"p{pool}-{i}.toml", tmp / f"p{pool}-{i}.sqlite"
            job.write_text(
                f"[job]\nbaselines = []\nrank_pool = {pool}\ntime_budget_s = 7200\n"
                f'[[models]]\nname = "{model}"\ntrials = {trials}\n'
            )
            secs, out = _tune(job, db)
            jobs[label] = {"pool": pool, "run": i + 1, "db": db, "tune_s": secs, "profile": _profile(out)}
            print(f"{label}: tuned in {secs:.0f} s; {jobs[label]['profile']}", flush=True)
    return jobs


def measure(model: str, jobs: dict[str, Any], rounds: int) -> dict[str, Any]:
    """Every build and PyTorch eager, timed interleaved in this process: label -> row."""
    samples, wrong = time_builds(model, {label: job["db"] for label, job in jobs.items()}, rounds)
    return {
        k: {
            "median_s": C.median(samples[k]),
            "x_torch": C.paired_ratio(samples["PyTorch eager"], samples[k]),
            "wrong": wrong.get(k, ""),
            "samples": len(samples[k]),
        }
        for k in samples
    }


def summary(jobs: dict[str, Any], rows: dict[str, Any], pools: list[int]) -> dict[int, dict[str, Any]]:
    """Per pool: its runs' medians (mean, min, max), tune seconds and cost-model seconds."""
    out = {}
    for pool in pools:
        mine = [k for k, j in jobs.items() if j["pool"] == pool]
        lat = [rows[k]["median_s"] for k in mine]
        out[pool] = {
            "latency_mean_s": statistics.fmean(lat),
            "latency_min_s": min(lat),
            "latency_max_s": max(lat),
            "x_torch_mean": statistics.fmean(rows[k]["x_torch"] for k in mine),
            "tune_s": [jobs[k]["tune_s"] for k in mine],
            "cost_model_s": [jobs[k]["profile"].get("cost model") for k in mine],
            "wrong": [k for k in mine if rows[k]["wrong"]],
        }
    return out


def render(model: str, trials: int, rows: dict[str, Any], per_pool: dict[int, dict[str, Any]]) -> str:
    ms = 1e3
    builds = C.table(
        ["build", "median ms", "eager / this", "output"],
        [
            [k, f"{r['median_s'] * ms:.4f}", f"{r['x_torch']:.2f}x", r["wrong"] or "ok"]
            for k, r in rows.items()
        ],
    )
    pools = C.table(
        ["rank_pool", "tuned ms, mean (range)", "eager / tuned", "tune s", "cost model s"],
        [
            [
                p,
                f"{s['latency_mean_s'] * ms:.4f} "
                f"({s['latency_min_s'] * ms:.4f}-{s['latency_max_s'] * ms:.4f})",
                f"{s['x_torch_mean']:.2f}x",
                " / ".join(f"{v:.0f}" for v in s["tune_s"]),
                " / ".join("-" if v is None else f"{v:.1f}" for v in s["cost_model_s"]),
            ]
            for p, s in per_pool.items()
        ],
    )
    return f"{model}, {trials} trials\n\n{builds}\n\n{pools}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bert-tiny")
    ap.add_argument("--trials", type=int, default=96)
    ap.add_argument("--pools", default="4,8", help="rank_pool values, comma-separated")
    ap.add_argument("--runs", type=int, default=3, help="tuning runs per pool")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--keep", action="store_true", help="keep the databases (their folder is printed)")
    ap.add_argument("--results", default=NAME, help="name of the results file (benchmarks/results/NAME.json)")
    args = ap.parse_args()
    pools = [int(p) for p in args.pools.split(",") if p]
    keep = contextlib.nullcontext(tempfile.mkdtemp(prefix="autotune-rank-pool-")) if args.keep else None
    with keep or tempfile.TemporaryDirectory(prefix="autotune-rank-pool-") as tmp:
        if args.keep:
            print(f"databases in {tmp}", flush=True)
        jobs = tune_all(args.model, args.trials, pools, args.runs, Path(tmp))
        rows = measure(args.model, jobs, args.rounds)
    per_pool = summary(jobs, rows, pools)
    method = METHOD.replace("RUNS", str(args.runs)).replace("TRIALS", str(args.trials))
    method = method.replace("ROUNDS", str(args.rounds))
    text = "\n\n".join([C.wrap(method), render(args.model, args.trials, rows, per_pool)])
    for job in jobs.values():
        job["db"] = job["db"].name
    results = {"jobs": jobs, "builds": rows, "pools": per_pool}
    C.write_result(args.results, method, results, text, sys.argv[1:])
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
