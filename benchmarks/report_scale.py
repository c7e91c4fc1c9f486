"""How long `autotune report` takes on a big job, and how large the report is (issue 17).

    .venv/bin/python benchmarks/report_scale.py                 # one job of 100,000 measurements
    .venv/bin/python benchmarks/report_scale.py --measurements 10000 --models 4

Builds one database through autotune's own write path, then times the report of that job.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

from autotune.db import TargetInfo, open_db
from autotune.report import collect, write_report

NAME = "report_scale"

METHOD = """\
Method. One SQLite file, written through autotune's own write path (SQLiteDatabase._insert, the
code under TuningDatabase.record, batched 5,000 rows per transaction): one job on one target, MODELS
models of 10 subgraphs each (weights 1-4), MEAS measurements in all, spread evenly over the
subgraphs: per subgraph its default, then trace configs at random latencies (0.3x-1.5x the
default), 8% of them failed (build_error / run_error / timeout / wrong_result, each with an error
text), created_at spread over an 8-hour job; per subgraph an interleaved confirmation (record_pair)
of its fastest config; per model an end-to-end measurement (15 rounds), a PyTorch-eager baseline
(15 rounds) and the job's model row with a time profile; per model with a best of several
decisions, two ablation pairs. Timed: (a) `autotune report --db FILE --out DIR` as a subprocess
(cold: Python start, imports, reading, plotting, writing), REPS runs, median; (b) in one warm
process, collect() (the database reads) and write_report() (reads + plots + HTML + Markdown), REPS
runs each, median. Sizes: the database file, report.html (PNGs inlined as base64), report.md and
the PNG files.
"""


def build(path: Path, n_meas: int, n_models: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    db = open_db(path)
    tid = db.target_id(TargetInfo("llvm", "synthetic cpu", ("avx2",), "tvm", "0.27.0", {}, {"kind": "llvm"}))
    job = db.start_job({"synthetic": True})
    started = time.time() - 8 * 3600
    db.conn.execute("UPDATE jobs SET started_at=? WHERE id=?", (started, job))
    per_workload = max(2, n_meas // (n_models * 10))
    subgraphs = []  # (model id, name, workload id, default seconds)
    models = []
    for m in range(n_models):
        wids = []
        for s in range(10):
            wid = db.add_workload(f"tvm:synthetic:{m}:{s}", "tvm", f"fused_op{s}_m{m}", "{}")
            wids.append((wid, rng.randint(1, 4)))
        mid = db.set_model(f"model{m:02d}", "tvm", f"model{m:02d}", wids)
        models.append(mid)
        subgraphs += [(mid, wid, rng.uniform(2e-5, 2e-3)) for wid, _ in wids]
    kinds = ["build_error", "run_error", "timeout", "wrong_result"]
    written = 0
    best: dict[int, tuple[dict, float]] = {}
    rows = []
    for _, wid, default in subgraphs:
        rows.append((wid, "default", {}, "ok", [default * rng.uniform(0.98, 1.03) for _ in range(3)], ""))
        for j in range(per_workload - 1):
            config = {"trace": [[["SamplePerfectTile", [], [], []]], [[0, [j, wid]]]]}
            if rng.random() < 0.08:
                kind = rng.choice(kinds)
                rows.append((wid, "trace", config, kind, [], f"{kind}: synthetic failure {j}\ndetail"))
                continue
            t = default * rng.uniform(0.3, 1.5)
            rows.append((wid, "trace", config, "ok", [t * rng.uniform(0.98, 1.03) for _ in range(3)], ""))
            if wid not in best or t < best[wid][1]:
                best[wid] = (config, t)
    rng.shuffle(rows)  # the search moves between subgraphs
    step = 8 * 3600 / len(rows)
    for i in range(0, len(rows), 5000):
        with db._write() as c:
            for k, (wid, kind, config, status, samples, error) in enumerate(rows[i : i + 5000]):
                mid = db._insert(c, wid, kind, config, tid, status, samples, error, job, "tune")
                c.execute("UPDATE measurements SET created_at=? WHERE id=?", (started + (i + k) * step, mid))
        written += len(rows[i : i + 5000])
    for _, wid, default in subgraphs:
        if wid in best:
            config, t = best[wid]
            db.record_pair(wid, "trace", config, tid, [default] * 5, [t] * 5, job_id=job)
    profile = {
        "total_s": 1400.0,
        "worker_startup_s": 20.0,
        "compile_s": 800.0,
        "run_s": 300.0,
        "costmodel_s": 60.0,
        "default_s": 40.0,
        "baselines_s": 30.0,
        "ours_s": 150.0,
    }
    for i, mid in enumerate(models):
        default = [rng.uniform(9e-3, 1.1e-2) for _ in range(15)]
        tuned = [d / rng.uniform(1.5, 2.5) for d in default]
        db.add_model_measurement(mid, tid, tuned, default, 2.0, job_id=job)
        db.add_baseline(
            mid, tid, "torch", "ok", [t * rng.uniform(1.1, 1.6) for t in tuned], tuned, job_id=job
        )
        db.add_job_model(
            job, f"model{i:02d}", "tvm", tid, "tuned", per_workload * 10, 0, 1400.0, {"profile": profile}
        )
    db.finish_job(job, "done")
    stats = db.stats()
    db.close()
    return {"build_s": time.perf_counter() - t0, "measurements": stats["measurements"], "job": job}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measurements", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="report_scale-"))
    path = tmp / "big.sqlite"
    built = build(path, args.measurements, args.models)
    print(f"built {built['measurements']} measurements in {built['build_s']:.0f} s")
    cli = []
    for r in range(args.reps):
        out = tmp / f"cli{r}"
        t0 = time.perf_counter()
        subprocess.run(
            [C.AUTOTUNE_CLI, "report", "--db", str(path), "--out", str(out)], check=True, capture_output=True
        )
        cli.append(time.perf_counter() - t0)
    reads, whole = [], []
    with open_db(path, readonly=True) as db:
        for r in range(args.reps):
            t0 = time.perf_counter()
            collect(db, built["job"])
            reads.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            paths = write_report(db, tmp / f"warm{r}", job_id=built["job"])
            whole.append(time.perf_counter() - t0)
    pngs = sum(p.stat().st_size for p in paths.plots)
    rows = [
        ["`autotune report` (subprocess, cold)", C.median(cli), min(cli), max(cli)],
        ["write_report (warm process)", C.median(whole), min(whole), max(whole)],
        ["  of which collect (database reads)", C.median(reads), min(reads), max(reads)],
    ]
    t1 = C.table(["step", "median s", "min s", "max s"], rows)
    sizes = [
        ["database file", path.stat().st_size / 2**20],
        ["report.html (plots inlined)", paths.html.stat().st_size / 2**20],
        ["report.md", paths.markdown.stat().st_size / 2**20],
        [f"{len(paths.plots)} PNG files", pngs / 2**20],
    ]
    t2 = C.table(["file", "MiB"], sizes)
    method = METHOD.replace("MODELS", str(args.models)).replace("MEAS", str(built["measurements"]))
    method = method.replace("REPS", str(args.reps))
    text = "\n".join([t1, t2])
    print(method)
    print(text)
    results = {"build": built, "cli_s": cli, "write_s": whole, "collect_s": reads, "sizes_mib": sizes}
    C.write_result(NAME, method, results, text, sys.argv[1:])
    if args.keep:
        print(f"kept {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
