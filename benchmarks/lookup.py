"""Compile-time lookup cost with a big tuning database (100,000 measurements, ~1,000 workloads).

    .venv/bin/python benchmarks/lookup.py            # 100,000 measurements over 1,000 workloads
    .venv/bin/python benchmarks/lookup.py --quick    # 10,000 over 100, fewer repetitions

Builds the database once: a real 8-trial CLI tune of mlp (real target, workloads, traces),
then synthetic workloads, configs and measurements bulk-inserted in one transaction.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

from autotune.db.schema import backfill_verdicts

NAME = "lookup"

METHOD = """\
Method. Database: a fresh SQLite file made by `autotune tune --model mlp --trials 8 --db SMALL` (the
real target row of this CPU, mlp's 3 real workloads with real MetaSchedule traces, defaults and
confirmation runs); copied to BIG, into which we bulk-insert (executemany, one transaction, the
schema of db/migrations/0001_initial.sql, config keys from autotune.db.records.config_key) synthetic
workloads (random fingerprints, a real workload's IR text and meta, so rows have realistic sizes)
and measurements until BIG holds NWORK workloads and NMEAS measurements, about NMEAS/NWORK per
workload: per workload one 'default' config measured twice and trace configs (a real mlp trace plus
a distinguishing field) measured once each, 10% of them failed (build_error / run_error / timeout,
no median), and, as a tuned workload has, one interleaved confirmation (two rows of source
'confirm': the default, then the first trace config at half its time), so that its best is that
trace; mlp's real workloads get extra slower synthetic trace configs so that they too rank among
~NMEAS/NWORK rows. Then, in one process that has already imported tvm (as at compile time): (a)
SQLiteDatabase.best_for(fingerprint, target_id) (the workload id, then TuningDatabase.best: the
latest confirmation's winner) on a read-only connection, for a real mlp fingerprint that has a best,
a random synthetic one, and an unknown one (miss), round-robin, up to N calls each (a call is no
longer repeated once its calls have taken 6 s in all; the tables give the count); (b) the
MetaSchedule path per workload on MetaScheduleDatabase(db, target, apply=True) with the real TIR
modules of mlp's fused subgraphs (those that have a best, and a convnet subgraph as a miss): TVM's
structural hash alone (our fingerprint), has_workload + get_top_k(workload, 1) with the adapter's
fingerprint->id cache cleared before every call (the first lookup in a compile; includes the
structural hash, the SQL and the trace JSON -> TuningRecord parsing), the same with the cache warm,
and query_tuning_record(mod, target, name) (what MetaScheduleApplyDatabase calls through the FFI;
cache cleared); per-call times, median and p99 over up to M calls each (same 6 s cap). Diagnosis:
the shipped fastest-candidates SQL (autotune.db.sqlite._FASTEST_SQL: the ranked candidates that
tuning warm-starts from and confirms, TuningDatabase.fastest; not the compile-time lookup, which
reads the latest confirmation) on a synthetic workload, as shipped, with the join order forced
(CROSS JOIN, so configs drive), and on a copy of BIG after ANALYZE. (c) compile time of mlp,
interleaved in rotated order over R rounds: plain tvm.compile(mod, target); autotune.tvm.compile
with an EMPTY database file (no target row: falls back to tvm.compile); with SMALL (only mlp's 8
trials); with BIG. Median per variant, and the median of per-round ratios to plain tvm.compile. (d)
CLI start-up: wall clock of `autotune --help`, `autotune best mlp --db BIG` and `autotune best mlp
--db SMALL` as subprocesses (plus `python -c pass` as the floor), interleaved, K runs each, median.
Times on this shared 2-core machine are noisy: medians, and ratios taken within one round.
"""


# --------------------------------------------------------------------------------------
# building the database
# --------------------------------------------------------------------------------------
def tune_small(path: Path, log: Path) -> float:
    cmd = [C.AUTOTUNE_CLI, "tune", "--model", "mlp", "--trials", "8", "--db", str(path), "--no-progress"]
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=C.ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{log.read_text()[-3000:]}")
    return time.perf_counter() - t0


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy (WAL included) through SQLite's backup API."""
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    with b:
        a.backup(b)
    a.close()
    b.close()


def fill(path: Path, n_workloads: int, n_measurements: int, seed: int = 0) -> dict[str, Any]:
    """Bulk-insert synthetic workloads/configs/measurements until the totals are reached."""
    from autotune.db import open_db
    from autotune.db.records import canonical_json, config_key

    rng = random.Random(seed)
    db = open_db(path)
    c = db.conn
    (tid,) = c.execute("SELECT id FROM targets").fetchone()
    real = c.execute("SELECT id, fingerprint, ir, meta FROM workloads ORDER BY id").fetchall()
    # one real trace per real workload (the best ok one)
    real_traces: dict[int, Any] = {}
    for w in real:
        best = db.fastest(w["id"], tid, 5)
        tr = next((b.config["trace"] for b in best if b.kind == "trace"), None)
        if tr is not None:
            real_traces[w["id"]] = (tr, best[0].median)
    some_trace = next(iter(real_traces.values()))[0]
    ir_text, meta_text = real[0]["ir"], real[0]["meta"]
    have_meas = c.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    n_new_w = n_workloads - len(real)
    per_w = (n_measurements - have_meas) / n_workloads  # spread over all workloads, real ones too
    now = time.time()

    t0 = time.perf_counter()
    c.execute("BEGIN IMMEDIATE")
    try:
        c.executemany(
            "INSERT INTO workloads(fingerprint, compiler, name, ir, meta, created_at) VALUES (?,?,?,?,?,?)",
            [
                (f"tvm:sh1:{rng.getrandbits(64):016x}", "tvm", f"synthetic_{i}", ir_text, meta_text, now)
                for i in range(n_new_w)
            ],
        )
        workloads = c.execute("SELECT id, fingerprint FROM workloads ORDER BY id").fetchall()
        real_ids = {w["id"] for w in real}
        configs: list[tuple] = []
        plan: list[tuple[str, str, float, str]] = []  # (config key, status, median, source)
        budget = n_measurements - have_meas
        for i, w in enumerate(workloads):
            wid, fp = w["id"], w["fingerprint"]
            n = int(round(per_w * (i + 1))) - int(round(per_w * i))
            n = min(n, budget - len(plan)) if i < len(workloads) - 1 else budget - len(plan)
            if n <= 0:
                continue
            base = rng.uniform(5e-6, 5e-3)
            if wid in real_ids:
                trace, real_best = real_traces.get(wid, (some_trace, base))
                base = real_best * 10  # slower than the real best: lookups still return the real one
            else:
                trace = some_trace
                text = canonical_json({})
                default_key = config_key(fp, text)
                configs.append((default_key, wid, "default", text, now))
                for _ in range(min(2, n)):
                    plan.append((default_key, "ok", base, "default"))
                n -= min(2, n)
            # a synthetic workload is tuned: one confirmation (default, then its first trace) won
            confirmed = wid not in real_ids and n >= 3
            n -= 2 if confirmed else 0
            for j in range(n):
                text = canonical_json({"trace": trace, "synthetic": j})
                key = config_key(fp, text)
                configs.append((key, wid, "trace", text, now))
                r = rng.random()
                status = (
                    "ok"
                    if r < 0.9 or (confirmed and j == 0)
                    else ("build_error" if r < 0.95 else ("run_error" if r < 0.98 else "timeout"))
                )
                plan.append(
                    (
                        key,
                        status,
                        base * rng.uniform(0.3, 3.0) if wid not in real_ids else base * rng.uniform(1.0, 3.0),
                        "tune",
                    )
                )
                if j == 0:
                    first_trace = key
            if confirmed:
                plan.append((default_key, "ok", base, "confirm"))
                plan.append((first_trace, "ok", base * 0.5, "confirm"))
        c.executemany(
            "INSERT OR IGNORE INTO configs(key, workload_id, kind, config, created_at) VALUES (?,?,?,?,?)",
            configs,
        )
        ids = dict(c.execute("SELECT key, id FROM configs").fetchall())
        rows = []
        for key, status, med, source in plan:
            if status == "ok":
                s = sorted(med * rng.uniform(0.97, 1.05) for _ in range(3))
                rows.append(
                    (
                        uuid.uuid4().hex,
                        ids[key],
                        tid,
                        None,
                        status,
                        json.dumps(s),
                        s[1],
                        (s[2] - s[0]) / s[1],
                        "",
                        source,
                        now,
                    )
                )
            else:
                rows.append(
                    (
                        uuid.uuid4().hex,
                        ids[key],
                        tid,
                        None,
                        status,
                        "[]",
                        None,
                        None,
                        f"synthetic {status}",
                        source,
                        now,
                    )
                )
        c.executemany(
            "INSERT INTO measurements(uid, config_id, target_id, job_id, status, samples, median, spread,"
            " error, source, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        backfill_verdicts(c)  # each confirmation's verdict, as autotune records it with the pair
        c.execute("COMMIT")
    except BaseException:
        c.execute("ROLLBACK")
        raise
    insert_s = time.perf_counter() - t0
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stats = db.stats()
    db.close()
    return {"insert_s": insert_s, "stats": stats, "file_mb": path.stat().st_size / 2**20}


# --------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------
def summary(ns: list[int]) -> dict[str, float]:
    us = [x / 1e3 for x in ns]
    return {"median_us": C.median(us), "p99_us": C.pct(us, 99), "max_us": max(us), "n": len(us)}


def time_calls(fns: dict[str, Any], n: int, budget_s: float = 6.0) -> dict[str, dict[str, float]]:
    """Call each function up to n times, round-robin; per-call nanoseconds.

    A function stops early once its calls have taken budget_s in total (at least 5 calls),
    so that a slow lookup cannot stall the benchmark.
    """
    for f in fns.values():  # warm-up
        f()
    out: dict[str, list[int]] = {k: [] for k in fns}
    spent = {k: 0 for k in fns}
    pc = time.perf_counter_ns
    for _ in range(n):
        live = [k for k in fns if len(out[k]) < 5 or spent[k] < budget_s * 1e9]
        if not live:
            break
        for k in live:
            t = pc()
            fns[k]()
            dt = pc() - t
            out[k].append(dt)
            spent[k] += dt
    return {k: summary(v) for k, v in out.items()}


def sql_diagnosis(big: Path, n: int) -> dict[str, dict[str, float]]:
    """The fastest-candidates SQL as shipped vs with the join order forced, and after ANALYZE on a copy."""
    from autotune.db.sqlite import _FASTEST_SQL

    conn = sqlite3.connect(f"file:{big}?mode=ro", uri=True)
    tid = conn.execute("SELECT id FROM targets").fetchone()[0]
    wid = conn.execute("SELECT id FROM workloads WHERE name LIKE 'synthetic_%' LIMIT 1").fetchone()[0]
    cross = _FASTEST_SQL.replace(
        "FROM configs c JOIN measurements m", "FROM configs c CROSS JOIN measurements m"
    )
    plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + _FASTEST_SQL, (wid, tid, 1))]
    analyzed = big.with_name("analyzed.sqlite")
    copy_db(big, analyzed)
    aconn = sqlite3.connect(analyzed)
    aconn.execute("ANALYZE")
    aconn.commit()
    res = time_calls(
        {
            "fastest SQL as shipped": lambda: conn.execute(_FASTEST_SQL, (wid, tid, 1)).fetchall(),
            "fastest SQL, CROSS JOIN (configs drive)": lambda: conn.execute(cross, (wid, tid, 1)).fetchall(),
            "fastest SQL after ANALYZE (copy)": lambda: aconn.execute(_FASTEST_SQL, (wid, tid, 1)).fetchall(),
        },
        n,
    )
    conn.close()
    aconn.close()
    analyzed.unlink()
    res["_plan_as_shipped"] = {"plan": "; ".join(plan)}  # type: ignore[dict-item]
    return res


def lookups(big: Path, n_sql: int, n_ms: int) -> dict[str, Any]:
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.database import Workload

    from autotune import zoo
    from autotune.backends.tvm import importer
    from autotune.backends.tvm.database import MetaScheduleDatabase
    from autotune.backends.tvm.workload import fingerprint, resolve_target
    from autotune.db.sqlite import SQLiteDatabase

    target = resolve_target("llvm")
    db = SQLiteDatabase(big, readonly=True)
    msdb = MetaScheduleDatabase(db, target, apply=True)
    tid = msdb.target_id
    assert tid is not None, "the big database has no row for this target"

    m = zoo.create("mlp")
    tasks = ms.relax_integration.extract_tasks(
        importer.fuse(importer.to_relax(m.module, m.example_inputs), target), target
    )
    cv = zoo.create("convnet")
    cv_tasks = ms.relax_integration.extract_tasks(
        importer.fuse(importer.to_relax(cv.module, cv.example_inputs), target), target
    )
    # the biggest real mlp workload (most trace records) and a convnet conv as the miss
    real = [(t.task_name, t.dispatched[0]) for t in tasks]
    miss_name, miss_mod = next((t.task_name, t.dispatched[0]) for t in cv_tasks if "conv2d" in t.task_name)
    # mlp's workloads whose 8-trial tune left a best (a confirmed win; else the default stays)
    real = [(name, mod) for name, mod in real if db.best_for(fingerprint(mod), tid) is not None]
    assert real, "no real mlp workload has a best in the big database"
    real_fps = [fingerprint(mod) for _, mod in real]
    synth = [
        r[0]
        for r in db.conn.execute(
            "SELECT fingerprint FROM workloads WHERE name LIKE 'synthetic_%' ORDER BY random() LIMIT 200"
        )
    ]
    it = iter(synth * (n_sql // len(synth) + 2))

    sql = time_calls(
        {
            "best_for(real mlp fp)": lambda: db.best_for(real_fps[0], tid),
            "best_for(synthetic fp)": lambda: db.best_for(next(it), tid),
            "best_for(unknown fp)": lambda: db.best_for("tvm:sh1:0000000000000000", tid),
        },
        n_sql,
    )

    name0, mod0 = max(real, key=lambda nm: db.count(db.workload(fingerprint(nm[1]))["id"], tid))
    wl0 = Workload(mod0)

    def cold_path(mod: Any, wl: Any) -> Any:
        msdb._ids.clear()  # the first lookup of a workload in a compile: no cached fingerprint -> id
        if msdb.has_workload(mod):
            return msdb.get_top_k(wl, 1)
        return None

    def warm_path(mod: Any, wl: Any) -> Any:
        if msdb.has_workload(mod):
            return msdb.get_top_k(wl, 1)
        return None

    def query(mod: Any, name: str) -> Any:
        msdb._ids.clear()
        return msdb.query_tuning_record(mod, target, name)

    miss_wl = Workload(miss_mod)
    got = cold_path(mod0, wl0)
    assert got and len(got) == 1, "the MetaSchedule path found no record for a tuned mlp workload"
    assert query(mod0, name0) is not None, "query_tuning_record found no record for a tuned mlp workload"
    assert cold_path(miss_mod, miss_wl) is None
    mspath = time_calls(
        {
            "structural hash (fingerprint)": lambda: fingerprint(mod0),
            "has_workload + get_top_k, cold": lambda: cold_path(mod0, wl0),
            "has_workload + get_top_k, warm": lambda: warm_path(mod0, wl0),
            "query_tuning_record (FFI), cold": lambda: query(mod0, name0),
            "miss: has_workload, cold": lambda: cold_path(miss_mod, miss_wl),
        },
        n_ms,
    )
    per_workload = {}
    for name, mod in real:
        wl = Workload(mod)
        per_workload[name] = time_calls(
            {"x": lambda mod=mod, wl=wl: cold_path(mod, wl)}, max(20, n_ms // 4), budget_s=3.0
        )["x"]
    rows = {
        "real workload timed in detail": name0,
        "its measurements": db.count(db.workload(fingerprint(mod0))["id"], tid),
        "miss workload": f"convnet {miss_name}",
    }
    db.close()
    return {"sql": sql, "metaschedule": mspath, "per_real_workload_cold": per_workload, "info": rows}


def compile_times(empty: Path, small: Path, big: Path, rounds: int) -> dict[str, Any]:
    import tvm

    import autotune.tvm
    from autotune import zoo
    from autotune.backends.tvm import importer
    from autotune.backends.tvm.workload import resolve_target

    target = resolve_target("llvm")
    m = zoo.create("mlp")
    mod = importer.to_relax(m.module, m.example_inputs)
    variants = {
        "tvm.compile": lambda: tvm.compile(mod, target),
        "autotune, empty db": lambda: autotune.tvm.compile(mod, target, db=str(empty)),
        "autotune, small db": lambda: autotune.tvm.compile(mod, target, db=str(small)),
        "autotune, big db": lambda: autotune.tvm.compile(mod, target, db=str(big)),
    }
    for f in variants.values():
        f()
    keys = list(variants)
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(rounds):
        for k in C.rotated(keys, r):
            t0 = time.perf_counter()
            variants[k]()
            samples[k].append(time.perf_counter() - t0)
    return {
        "samples_s": samples,
        "median_s": {k: C.median(v) for k, v in samples.items()},
        "ratio_to_tvm_compile": {k: C.paired_ratio(v, samples["tvm.compile"]) for k, v in samples.items()},
        "big_over_small": C.paired_ratio(samples["autotune, big db"], samples["autotune, small db"]),
    }


def cli_times(small: Path, big: Path, runs: int) -> dict[str, Any]:
    cmds = {
        "python -c pass": [C.PYTHON, "-c", "pass"],
        "autotune --help": [C.AUTOTUNE_CLI, "--help"],
        "autotune best mlp --db BIG": [C.AUTOTUNE_CLI, "best", "mlp", "--db", str(big)],
        "autotune best mlp --db SMALL": [C.AUTOTUNE_CLI, "best", "mlp", "--db", str(small)],
    }
    keys = list(cmds)
    samples: dict[str, list[float]] = {k: [] for k in keys}
    outputs: dict[str, str] = {}
    for k in keys:  # warm the page cache once
        outputs[k] = subprocess.run(cmds[k], capture_output=True, text=True, cwd=C.ROOT).stdout
    for r in range(runs):
        for k in C.rotated(keys, r):
            t0 = time.perf_counter()
            proc = subprocess.run(cmds[k], capture_output=True, text=True, cwd=C.ROOT)
            samples[k].append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise RuntimeError(f"{k} failed: {proc.stderr[-2000:]}")
    return {
        "samples_s": samples,
        "median_s": {k: C.median(v) for k, v in samples.items()},
        "best_output_big": outputs["autotune best mlp --db BIG"],
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--measurements", type=int, default=100_000)
    p.add_argument("--workloads", type=int, default=1_000)
    p.add_argument("--sql-calls", type=int, default=1000)
    p.add_argument("--ms-calls", type=int, default=200)
    p.add_argument("--compile-rounds", type=int, default=8)
    p.add_argument("--cli-runs", type=int, default=10)
    p.add_argument("--quick", action="store_true", help="10,000 measurements over 100 workloads, fewer calls")
    p.add_argument("--keep", action="store_true", help="keep the temporary databases")
    args = p.parse_args(argv)
    if args.quick:
        args.measurements, args.workloads, args.sql_calls, args.ms_calls = 10_000, 100, 300, 100
        args.compile_rounds, args.cli_runs = 4, 4

    tmp = Path(tempfile.mkdtemp(prefix="autotune-lookup-"))
    small, big, empty = tmp / "small.sqlite", tmp / "big.sqlite", tmp / "empty.sqlite"
    started = time.time()
    res: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k != "keep"}}
    try:
        print(f"[{time.time() - started:5.0f} s] tuning mlp for 8 trials into SMALL ...", flush=True)
        res["tune_small_s"] = tune_small(small, tmp / "tune.log")
        copy_db(small, big)
        from autotune.db import open_db

        open_db(empty).close()
        print(f"[{time.time() - started:5.0f} s] filling BIG ...", flush=True)
        res["fill"] = fill(big, args.workloads, args.measurements)
        print(
            f"         {res['fill']['stats']['measurements']} measurements, "
            f"{res['fill']['stats']['workloads']} workloads, {res['fill']['file_mb']:.1f} MB, "
            f"inserted in {res['fill']['insert_s']:.1f} s",
            flush=True,
        )
        print(f"[{time.time() - started:5.0f} s] lookups ...", flush=True)
        res["lookups"] = lookups(big, args.sql_calls, args.ms_calls)
        print(f"[{time.time() - started:5.0f} s] SQL diagnosis ...", flush=True)
        res["sql_diagnosis"] = sql_diagnosis(big, args.sql_calls)
        print(f"[{time.time() - started:5.0f} s] compile times ...", flush=True)
        res["compile"] = compile_times(empty, small, big, args.compile_rounds)
        print(f"[{time.time() - started:5.0f} s] CLI start-up ...", flush=True)
        res["cli"] = cli_times(small, big, args.cli_runs)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    res["total_s"] = time.time() - started

    st = res["fill"]["stats"]
    method = (
        METHOD.replace("NMEAS/NWORK", str(round(st["measurements"] / st["workloads"])))
        .replace("NWORK", f"{st['workloads']:,}")
        .replace("NMEAS", f"{st['measurements']:,}")
        .replace("N calls", f"{args.sql_calls} calls")
        .replace("M calls", f"{args.ms_calls} calls")
        .replace("R\nrounds", f"{args.compile_rounds}\nrounds")
        .replace("R rounds", f"{args.compile_rounds} rounds")
        .replace("K runs", f"{args.cli_runs} runs")
    )
    lk = res["lookups"]
    target_us = 1000.0
    rows_a = [
        [k, v["median_us"], v["p99_us"], v["n"], "yes" if v["p99_us"] < target_us else "NO"]
        for k, v in {**lk["sql"], **lk["metaschedule"]}.items()
    ]
    rows_a += [
        [
            f"cold path, mlp {k}",
            v["median_us"],
            v["p99_us"],
            v["n"],
            "yes" if v["p99_us"] < target_us else "NO",
        ]
        for k, v in lk["per_real_workload_cold"].items()
    ]
    diag = {k: v for k, v in res["sql_diagnosis"].items() if not k.startswith("_")}
    rows_s = [[k, v["median_us"], v["p99_us"], v["n"]] for k, v in diag.items()]
    cp = res["compile"]
    rows_c = [[k, cp["median_s"][k] * 1e3, f"{cp['ratio_to_tvm_compile'][k]:.2f}x"] for k in cp["median_s"]]
    cl = res["cli"]
    rows_d = [[k, cl["median_s"][k] * 1e3, min(cl["samples_s"][k]) * 1e3] for k in cl["median_s"]]
    text = "\n".join(
        [
            C.wrap(method),
            "",
            f"Database BIG: {st['measurements']:,} measurements ({st['measurements_ok']:,} ok), "
            f"{st['configs']:,} configs, {st['workloads']:,} workloads, {st['targets']} target, "
            f"{res['fill']['file_mb']:.1f} MB; bulk insert {res['fill']['insert_s']:.1f} s. Detailed "
            f"MetaSchedule timings on mlp {lk['info']['real workload timed in detail']} "
            f"({lk['info']['its measurements']} measurements); miss = {lk['info']['miss workload']}.",
            "",
            "(a, b) lookup per workload (microseconds; target < 1 ms)",
            C.table(["call", "median us", "p99 us", "calls", "p99 < 1 ms"], rows_a),
            "",
            "Diagnosis: the fastest-candidates SQL on one synthetic workload (microseconds)",
            C.table(["query", "median us", "p99 us", "calls"], rows_s),
            "query plan as shipped: " + res["sql_diagnosis"]["_plan_as_shipped"]["plan"],
            "",
            f"(c) compile time of mlp ({args.compile_rounds} interleaved rounds; "
            "ratio = median per-round x / tvm.compile)",
            C.table(["variant", "median ms", "ratio to tvm.compile"], rows_c),
            f"big db / small db (median paired ratio): {cp['big_over_small']:.2f}x",
            "",
            f"(d) CLI start-up ({args.cli_runs} interleaved runs each)",
            C.table(["command", "median ms", "min ms"], rows_d),
            "",
            "`autotune best mlp --db BIG` printed:",
            cl["best_output_big"].rstrip(),
            "",
            f"total benchmark time {res['total_s']:.0f} s",
        ]
    )
    print()
    print(text)
    out = C.write_result(NAME + ("-quick" if args.quick else ""), method, res, text, argv)
    print(f"\nwrote {os.path.relpath(out, C.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
