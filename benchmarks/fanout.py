"""A job fanned out over Ray (issue 18): job wall clock with 1 and 2 workers on this machine,
and the fan-out's own overhead per task (scheduling, shard transfer, merge) with recorded
measurements replayed instead of compiles, at 1 to 64 simulated workers.

    .venv/bin/python benchmarks/fanout.py                      # both parts
    .venv/bin/python benchmarks/fanout.py --skip jobs          # the overhead part only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

from autotune.db import TargetInfo, open_db
from autotune.db.schema import snapshot
from autotune.tuning import fanout
from autotune.tuning.jobfile import parse_job

NAME = "fanout"
RECORDED = Path(__file__).resolve().parent.parent / "tests" / "replay" / "xla-mlp.json"

METHOD = """\
Method. (1) Jobs: `run_fanout` (what `autotune tune --ray` runs) of an XLA job of MODELS at TRIALS
trials each (cost model none, baselines none), into a fresh SQLite file each time, on a local Ray
instance started with num_cpus = W (W = 1: the models run one after the other; W = 2: two at once,
each task asks for 1 CPU), in the order 1, 2, 1, 2 ... over ROUNDS rounds; wall clock from the call
to its return (task scheduling, the snapshot, tuning, shard transfer and merge), median per W, and
the throughput ratio = median(W=1) / median(W=2). Ray's own start (ray.init) is outside the clock.
(2) Overhead: the same driver path (snapshot put in the object store, one task per shard,
ray.wait, the shard's bytes back, merge_from(own_shard=True) into the job's database) with a task
that replays recorded measurements (tests/replay/xla-mlp.json: 72 configs of the JAX mlp as the
real XLA backend measured them; per task, its 72 outcomes written into the shard through the
database API, plus a confirmation pair) instead of compiling: N tasks at W = N simulated workers
(a local instance with num_cpus = N on this 2-core machine, so 64 workers share 2 cores), N in
1, 2, 4, ..., 64; per task: the task's own time (shard write + snapshot), the merge time on the
driver, and the wall clock per task (total / N). Median over REPS repetitions.
"""


def replay_task(snapshot: bytes, outcomes: list[dict], i: int) -> bytes:
    """A shard as a tuning task leaves it, from recorded outcomes (no compile)."""
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shard.sqlite"
        path.write_bytes(snapshot)
        with open_db(path) as db:
            tid = db.target_id(TargetInfo("cpu", "replayed", ("avx2",), "xla", "0.10.2", {}, {}))
            wid = db.add_workload(f"xla:replay:{i}", "xla", f"mlp{i}", "HloModule m")
            job = db.start_job({"replay": i})
            for o in outcomes:
                db.record(wid, "options", o["config"], tid, o["status"], o["samples"], o["error"], job_id=job)
            db.record_pair(wid, "options", outcomes[0]["config"], tid, [2e-3] * 5, [1e-3] * 5, job_id=job)
            db.finish_job(job, "done")
        return snapshot(path)


def overhead(ns: list[int], reps: int, tmp: Path) -> list[list]:
    import ray

    outcomes = json.loads(RECORDED.read_text())["outcomes"]
    rows = []
    for n in ns:
        walls, merges, tasks = [], [], []
        ray.init(address="local", num_cpus=n, include_dashboard=False, log_to_driver=False)
        task = ray.remote(num_cpus=1)(_timed_replay)
        try:
            for r in range(reps):
                path = tmp / f"over-{n}-{r}.sqlite"
                with open_db(path) as db:
                    job = db.start_job({})
                    t0 = time.perf_counter()
                    snap = ray.put(snapshot(path))
                    waiting = [task.remote(snap, outcomes, i) for i in range(n)]
                    merge_s = 0.0
                    while waiting:
                        (done,), waiting = ray.wait(waiting, num_returns=1)
                        data, took = ray.get(done)
                        tasks.append(took)
                        m0 = time.perf_counter()
                        with tempfile.TemporaryDirectory() as t:
                            shard = Path(t) / "s.sqlite"
                            shard.write_bytes(data)
                            with open_db(shard, readonly=True) as s:
                                db.merge_from(s, own_shard=True, jobs_as=job)
                        merge_s += time.perf_counter() - m0
                    walls.append((time.perf_counter() - t0) / n)
                    merges.append(merge_s / n)
                    assert db.stats()["measurements"] == n * (len(outcomes) + 2)
        finally:
            ray.shutdown()
        rows.append(
            [
                n,
                statistics.median(walls) * 1e3,
                statistics.median(tasks) * 1e3,
                statistics.median(merges) * 1e3,
            ]
        )
    return rows


def _timed_replay(snapshot: bytes, outcomes: list[dict], i: int) -> tuple[bytes, float]:
    t0 = time.perf_counter()
    data = replay_task(snapshot, outcomes, i)
    return data, time.perf_counter() - t0


def jobs(models: list[str], trials: int, rounds: int, tmp: Path) -> dict[int, list[float]]:
    import ray

    spec_text = {
        "job": {
            "backend": "xla",
            "trials": trials,
            "cost_model": "none",
            "baselines": [],
            "time_budget_s": 900,
        },
        "models": [{"name": m} for m in models],
    }
    out: dict[int, list[float]] = {1: [], 2: []}
    for r in range(rounds):
        for w in (1, 2):
            ray.init(address="local", num_cpus=w, include_dashboard=False, log_to_driver=False)
            try:
                spec = parse_job(spec_text, "benchmark")
                t0 = time.perf_counter()
                report = fanout.run_fanout(
                    spec, "auto", db_path=str(tmp / f"job-{w}-{r}.sqlite"), progress=False
                )
                out[w].append(time.perf_counter() - t0)
                assert report.ok, report.table()
            finally:
                ray.shutdown()
            print(f"round {r} W={w}: {out[w][-1]:.1f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,gpt-block")
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", default="1,2,4,8,16,32,64")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip", default="")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fanout-"))
    models = args.models.split(",")
    texts, results = [], {}
    if "jobs" not in args.skip:
        walls = jobs(models, args.trials, args.rounds, tmp)
        m1, m2 = statistics.median(walls[1]), statistics.median(walls[2])
        texts.append(
            C.table(
                ["Ray workers", "job wall s (median)", "runs"],
                [[1, m1, len(walls[1])], [2, m2, len(walls[2])]],
            )
            + f"\nthroughput ratio (1 worker / 2 workers): {m1 / m2:.2f}x"
        )
        results["jobs"] = walls
    if "overhead" not in args.skip:
        rows = overhead([int(n) for n in args.workers.split(",")], args.reps, tmp)
        texts.append(
            C.table(
                ["simulated workers (tasks)", "wall ms / task", "task ms (median)", "merge ms / task"], rows
            )
        )
        results["overhead"] = rows
    method = (
        METHOD.replace("MODELS", " and ".join(models))
        .replace("TRIALS", str(args.trials))
        .replace("ROUNDS", str(args.rounds))
        .replace("REPS", str(args.reps))
    )
    text = "\n\n".join(texts)
    print(method)
    print(text)
    C.write_result(NAME, method, results, text, sys.argv[1:])


if __name__ == "__main__":
    main()
