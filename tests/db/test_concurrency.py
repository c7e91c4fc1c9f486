"""Several processes writing one database file at the same time lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autotune.db import SQLiteDatabase

pytestmark = pytest.mark.timeout(300)

WORKERS = 4
RECORDS = 200

# Each worker opens the (maybe not yet existing) file, waits for the start signal, then
# writes RECORDS outcomes one transaction each, on a shared and on its own workload.
WORKER = r"""
import json, os, sys, time
from autotune.db import SQLiteDatabase, TargetInfo
path, go, me, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
open(f"{go}.ready{me}", "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
db = SQLiteDatabase(path)
target = db.target_id(TargetInfo("llvm", "cpu", ("avx2",), "tvm", "0.27.0"))
shared = db.add_workload("tvm:sh1:shared", "tvm", "shared", "{}")
own = db.add_workload(f"tvm:sh1:own{me}", "tvm", f"own{me}", "{}")
statuses = ["ok", "ok", "ok", "build_error", "run_error", "timeout", "wrong_result"]
for i in range(n):
    status = statuses[i % len(statuses)]
    samples = [1e-3 * (1 + (i % 13)), 1.1e-3] if status in ("ok", "wrong_result") else []
    db.record(shared if i % 2 else own, "trace", {"trace": [me, i % 17]}, target, status, samples,
              error="" if status == "ok" else status)
db.close()
print(json.dumps({"worker": me, "done": n}))
"""


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(go), str(me), str(RECORDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(WORKERS)
    ]
    deadline = time.time() + 120
    while not all(Path(f"{go}.ready{me}").exists() for me in range(WORKERS)):
        assert time.time() < deadline and all(p.poll() is None for p in procs), "a worker did not start"
        time.sleep(0.01)
    go.touch()  # all at once, on a database none of them has created yet
    results = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert json.loads(out)["done"] == RECORDS

    with SQLiteDatabase(path, readonly=True) as db:
        stats = db.stats()
        assert stats["measurements"] == WORKERS * RECORDS
        assert stats["targets"] == 1
        assert stats["workloads"] == WORKERS + 1
        assert stats["configs"] == WORKERS * 17 * 2  # per worker: 17 traces, each on both workloads
        per_status = {
            s: stats[f"measurements_{s}"]
            for s in ("ok", "build_error", "run_error", "timeout", "wrong_result")
        }
        expected = {s: 0 for s in per_status}
        cycle = ["ok", "ok", "ok", "build_error", "run_error", "timeout", "wrong_result"]
        for i in range(RECORDS):
            expected[cycle[i % len(cycle)]] += WORKERS
        assert per_status == expected
        assert db.check() == []
        uids = {row["uid"] for table, row in db.dump() if table == "measurements"}
        assert len(uids) == WORKERS * RECORDS


OPENER = r"""
import os, sys, time
from autotune.db import SQLiteDatabase, TargetInfo
folder, rounds = sys.argv[1], int(sys.argv[2])
failures = []
for k in range(rounds):
    deadline = time.time() + 60
    while not os.path.exists(os.path.join(folder, f"go{k}")) and time.time() < deadline:
        time.sleep(0)
    try:
        db = SQLiteDatabase(os.path.join(folder, f"db{k}.sqlite"))
        db.target_id(TargetInfo("llvm", "cpu", (), "tvm", "0.27.0"))
        db.add_workload("tvm:sh1:x", "tvm", "x", "{}")
        db.close()
    except Exception as exc:
        failures.append(f"round {k}: {exc}")
print("\n".join(failures))
"""


def test_concurrent_creation_of_a_new_file(tmp_path):
    """Processes that create and migrate the same new file at the same moment all succeed."""
    rounds = 25
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(tmp_path), str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    time.sleep(1.0)  # let them start and wait
    for k in range(rounds):
        (tmp_path / f"go{k}").touch()
        time.sleep(0.04)
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert out.strip() == "", out
    for k in range(rounds):
        with SQLiteDatabase(tmp_path / f"db{k}.sqlite", readonly=True) as db:
            assert db.stats()["workloads"] == 1 and db.stats()["targets"] == 1
            assert db.check() == []
