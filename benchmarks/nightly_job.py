"""The bundled nightly job end to end: wall clock of a first run and of a re-run with nothing to do.

.venv/bin/python benchmarks/nightly_job.py            # examples/nightly.toml into a fresh database
.venv/bin/python benchmarks/nightly_job.py --quick    # a one-model job (mlp, 8 trials) instead
.venv/bin/python benchmarks/nightly_job.py --job path/to/jobs.toml
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

NAME = "nightly_job"
TARGET_S = 600.0

METHOD = """\
Method. `autotune tune JOB --db FRESH --no-progress` run as a subprocess from the repository root
into a new, empty temporary SQLite file; "wall s" is the whole process (interpreter start to exit)
timed by this script; the target is under TARGET_S s on this shared 2-core machine (the job file's
own time_budget_s is BUDGET s). The per-model table is the one the command prints (its end-to-end
numbers come from autotune.tuning.model.ModelTuner.end_to_end: the compiler's default build vs
the tuned build, interleaved, 10 rounds for TVM and 20 for XLA, speedup = median of per-round
ratios). Then `autotune best MODEL --backend BACKEND --db FRESH` for every model of the job.
When the first run ran out of its time budget (a model reported 'partial'), the same command is
run again on the same database ("resume" runs, at most MAX_RESUMES) until no model is partial: a
resumed job continues what the previous one left. Then the same command once more
("re-run"): everything is tuned already, so every model should be skipped; its wall clock is
timed the same way. One run each: a wall clock on this noisy machine can vary by tens of percent
between runs.
"""


def parse_table(stdout: str) -> list[dict[str, Any]]:
    """The rows of the job report table (see autotune.tuning.report.JobReport.table): model,
    backend, status, subgraphs, trials, failed, default ms, tuned ms, speedup; indented lines
    (error, best, note, time) belong to the row above."""
    rows: list[dict[str, Any]] = []
    lines = stdout.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("model") and "speedup" in ln), None)
    if start is None:
        return rows
    keys = ["model", "status", "subgraphs", "trials", "failed", "default_ms", "tuned_ms", "speedup"]
    if "backend" in lines[start].split():
        keys.insert(1, "backend")
    for ln in lines[start + 1 :]:
        if ln.startswith("job ") or not ln.strip():
            break
        if ln.startswith(" "):
            key, _, value = ln.strip().partition(":")
            if rows and key in ("error", "best", "note"):
                rows[-1][key] = value.strip()
            continue
        parts = ln.split()
        if len(parts) < len(keys):
            continue
        rows.append(dict(zip(keys, parts)))
    return rows


def run_tune(job: Path, db: Path, log: Path) -> dict[str, Any]:
    cmd = [C.AUTOTUNE_CLI, "tune", str(job), "--db", str(db), "--no-progress"]
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


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--job", default=str(C.ROOT / "examples" / "nightly.toml"), help="job file to run")
    p.add_argument("--quick", action="store_true", help="a one-model job (mlp, 8 trials, 180 s budget)")
    p.add_argument("--keep", action="store_true", help="keep the temporary database and logs")
    p.add_argument(
        "--max-resumes",
        type=int,
        default=2,
        help="re-runs allowed to finish models the first run left 'partial' (default 2)",
    )
    args = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="autotune-nightly-"))
    job = Path(args.job)
    if args.quick:
        job = tmp / "quick.toml"
        job.write_text(
            '[job]\ntarget = "llvm"\ntrials = 8\ntime_budget_s = 180\n\n[[models]]\nname = "mlp"\n'
        )
    spec = tomllib.loads(job.read_text())
    default_backend = spec.get("job", {}).get("backend", "tvm")
    # (name, backend): the same zoo name may be tuned by both backends
    entries = [(m["name"], m.get("backend", default_backend)) for m in spec.get("models", [])]
    models = [f"{n} ({b})" for n, b in entries]
    budget = spec.get("job", {}).get("time_budget_s", 3600)
    db = tmp / "nightly.sqlite"
    res: dict[str, Any] = {
        "job_file": os.path.relpath(job, C.ROOT) if not args.quick else "quick (generated)",
        "job": spec,
        "target_s": TARGET_S,
    }
    try:
        print(f"first run: autotune tune {job.name} --db {db} --no-progress ...", flush=True)
        res["first"] = run_tune(job, db, tmp / "first.log")
        print(f"  rc {res['first']['rc']}, {res['first']['wall_s']:.0f} s", flush=True)
        res["best"] = {}
        for (name, backend), m in zip(entries, models):
            proc = subprocess.run(
                [C.AUTOTUNE_CLI, "best", name, "--backend", backend, "--db", str(db)],
                capture_output=True,
                text=True,
                cwd=C.ROOT,
            )
            res["best"][m] = {
                "command": f"autotune best {name} --backend {backend} --db FRESH",
                "rc": proc.returncode,
                "stdout": proc.stdout,
                "stderr": proc.stderr[-2000:],
            }
        from autotune.db import open_db

        with open_db(db, readonly=True) as d:
            res["db_stats"] = d.stats()
        res["resumes"] = []
        last = res["first"]
        while (
            any(row["status"] == "partial" for row in last["rows"]) and len(res["resumes"]) < args.max_resumes
        ):
            print(f"resume run {len(res['resumes']) + 1} (models left partial) ...", flush=True)
            last = run_tune(job, db, tmp / f"resume{len(res['resumes']) + 1}.log")
            res["resumes"].append(last)
            print(f"  rc {last['rc']}, {last['wall_s']:.0f} s", flush=True)
        with open_db(db, readonly=True) as d:
            res["db_stats_before_rerun"] = d.stats()
        print("re-run (everything tuned) ...", flush=True)
        res["rerun"] = run_tune(job, db, tmp / "rerun.log")
        print(f"  rc {res['rerun']['rc']}, {res['rerun']['wall_s']:.0f} s", flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    f, r = res["first"], res["rerun"]
    method = (
        METHOD.replace("TARGET_S", f"{TARGET_S:.0f}")
        .replace("BUDGET", f"{budget:g}")
        .replace("MAX_RESUMES", str(args.max_resumes))
    )
    cols = ["model", "backend", "status", "subgraphs", "trials", "failed", "default_ms", "tuned_ms"]
    cols.append("speedup")
    skipped = all(row["status"] == "skipped" for row in r["rows"]) and len(r["rows"]) == len(models)
    text = "\n".join(
        [
            C.wrap(method),
            "",
            f"job file: {res['job_file']} (models: {', '.join(models)}; time_budget_s {budget:g})",
            f"first run: {f['wall_s']:.1f} s wall (rc {f['rc']}) -> "
            f"{'under' if f['wall_s'] < TARGET_S else 'OVER'} the {TARGET_S:.0f} s target",
            "",
            C.table(cols, [[row.get(c, "") for c in cols] for row in f["rows"]]),
            "",
            *[
                f"resume run {i + 1}: {x['wall_s']:.1f} s wall (rc {x['rc']})\n"
                + C.table(cols, [[row.get(c, "") for c in cols] for row in x["rows"]])
                + "\n"
                for i, x in enumerate(res["resumes"])
            ],
            f"re-run: {r['wall_s']:.1f} s wall (rc {r['rc']}); "
            f"every model skipped: {'yes' if skipped else 'NO'}",
            "",
            C.table(cols, [[row.get(c, "") for c in cols] for row in r["rows"]]),
            "",
            "database after the first run: " + ", ".join(f"{k} {v}" for k, v in res["db_stats"].items() if v),
            "",
            *[
                f"$ {b['command']}   (rc {b['rc']})\n{b['stdout'].rstrip() or b['stderr'].rstrip()}\n"
                for m, b in res["best"].items()
            ],
        ]
    )
    if f["rc"] != 0 or r["rc"] != 0:
        text += (
            "\nstderr tail of the first run:\n"
            + f["stderr_tail"]
            + "\nstderr tail of the re-run:\n"
            + r["stderr_tail"]
        )
    print()
    print(text)
    out = C.write_result(NAME + ("-quick" if args.quick else ""), method, res, text, argv)
    print(f"\nwrote {os.path.relpath(out, C.ROOT)}")
    return 0 if f["rc"] == 0 and r["rc"] == 0 and all(x["rc"] == 0 for x in res["resumes"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
