"""The fault run: killed jobs, concurrent writers, bad files. What was tried, what survived, what was lost.

.venv/bin/python benchmarks/faults.py            # 5 SIGKILLs each of a TVM and an XLA job, 8 writers
.venv/bin/python benchmarks/faults.py --quick    # 2 kills each, 4 writers x 500 rows
"""

from __future__ import annotations

import argparse
import hashlib
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

NAME = "faults"

METHOD = """\
Method. (1) Kills: for each backend, `autotune tune --backend B --model mlp --trials T --db DB
--no-progress` is started as a subprocess and sent SIGKILL after a random delay (seeded, uniform
between the times given), KILLS times into the same database; right before each kill the uids of
every committed measurement are read through a separate read-only connection, and right after it
the database is read again: "lost" counts uids that were committed before the kill and are gone
after it. A last run is let finish: "re-measured" counts search configs measured twice (each
config should be measured once across all runs), "interrupted" the job rows that read
'interrupted' afterwards (every kill that hit a running job should leave one; a kill during
start-up, before the job row is written, or after the job finished, leaves none). `autotune db
check` must say ok after each kill. (2) Concurrent writers: W processes each commit N outcomes
to one database at once; "lost" is W*N minus the rows found after. (3) Bad files: each file of
the catalogue is given to `autotune db stats` and `autotune tune` (a reader and a writer); it
must be refused with one line on stderr and a non-zero exit, and its bytes must be unchanged.
"""


def _uids(path: Path) -> set[str]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return {r[0] for r in conn.execute("SELECT uid FROM measurements")}
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return set()


def _cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [C.PYTHON, "-m", "autotune.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=C.ROOT,
    )


def kills(
    backend: str, trials: int, count: int, window: tuple[float, float], rng: random.Random, tmp: Path
) -> dict:
    db = tmp / f"kill-{backend}.sqlite"
    args = [
        "tune",
        "--backend",
        backend,
        "--model",
        "mlp",
        "--trials",
        str(trials),
        "--db",
        str(db),
        "--no-progress",
    ]
    lost = checks_failed = hits = 0
    delays = []
    for _ in range(count):
        proc = subprocess.Popen(
            [C.PYTHON, "-m", "autotune.cli.main", *args],
            cwd=C.ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        delay = rng.uniform(*window)
        delays.append(round(delay, 1))
        time.sleep(delay)
        before = _uids(db)
        hits += proc.poll() is None  # still running: the kill hits a live job
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lost += len(before - _uids(db))
        if db.exists() and _cli("db", "check", "--db", str(db)).returncode != 0:
            checks_failed += 1
    done = _cli(*args)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT c.config, COUNT(*) FROM measurements m JOIN configs c ON c.id=m.config_id"
            " WHERE m.source='tune' GROUP BY c.id"
        ).fetchall()
        statuses = [r[0] for r in conn.execute("SELECT status FROM jobs ORDER BY id")]
    finally:
        conn.close()
    return {
        "backend": backend,
        "kills": count,
        "hit_live_job": hits,
        "delays_s": delays,
        "lost": lost,
        "check_failed": checks_failed,
        "final_rc": done.returncode,
        "measured": sum(n for _, n in rows),
        "re_measured": sum(n - 1 for _, n in rows if n > 1),
        "interrupted": statuses.count("interrupted"),
        "jobs": statuses,
    }


WRITER = """
import sys
from autotune.db import TargetInfo, open_db
path, me, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open_db(path) as db:
    t = db.target_id(TargetInfo("llvm", "cpu", ("avx2",), "tvm", "0.27.0"))
    w = db.add_workload(f"tvm:sh1:{me:04x}", "tvm", f"w{me}", "{}")
    for i in range(n):
        db.record(w, "trace", {"trace": [me, i]}, t, "ok", [1e-3 + i * 1e-9])
"""


def writers(count: int, rows: int, tmp: Path) -> dict:
    db = tmp / "writers.sqlite"
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen([C.PYTHON, "-c", WRITER, str(db), str(i), str(rows)], cwd=C.ROOT)
        for i in range(count)
    ]
    codes = [p.wait() for p in procs]
    found = len(_uids(db))
    return {
        "writers": count,
        "rows_each": rows,
        "found": found,
        "lost": count * rows - found,
        "failed_processes": sum(c != 0 for c in codes),
        "seconds": time.perf_counter() - t0,
    }


def bad_files(tmp: Path) -> list[dict[str, Any]]:
    from autotune.db import open_db

    def newer(p: Path) -> None:
        open_db(p).close()
        conn = sqlite3.connect(p)
        conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()

    def foreign_sqlite(p: Path) -> None:
        conn = sqlite3.connect(p)
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        conn.close()

    def truncated(p: Path) -> None:
        with open_db(p) as db:
            db.add_workload("tvm:sh1:big", "tvm", "big", "x" * 50_000)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])

    catalogue = {
        "text": lambda p: p.write_text("not a database\n" * 100),
        "random bytes": lambda p: p.write_bytes(random.Random(0).randbytes(8192)),
        "sqlite header, garbage after": lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000),
        "truncated": truncated,
        "newer schema": newer,
        "another program's sqlite": foreign_sqlite,
    }
    out = []
    for kind, make in catalogue.items():
        path = tmp / f"bad-{len(out)}.sqlite"
        make(path)
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        ok = True
        for args in (["db", "stats"], ["tune", "--model", "mlp", "--trials", "1"]):
            r = _cli(*args, "--db", str(path), timeout=300)
            ok &= (
                r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
            )
        out.append(
            {
                "file": kind,
                "refused_cleanly": ok,
                "unchanged": hashlib.sha256(path.read_bytes()).hexdigest() == before,
            }
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--writers", type=int, default=8)
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.kills, a.writers, a.rows = 2, 4, 500
    rng = random.Random(a.seed)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="autotune-faults-") as d:
        tmp = Path(d)
        results["kills"] = [
            kills("tvm", 64, a.kills, (6.0, 24.0), rng, tmp),
            kills("xla", 48, a.kills, (3.0, 9.0), rng, tmp),
        ]
        results["writers"] = writers(a.writers, a.rows, tmp)
        results["bad_files"] = bad_files(tmp)
    rows = [
        [
            f"SIGKILL {k['backend']} job",
            k["kills"],
            k["kills"] - k["check_failed"],
            k["lost"],
            f"{k['hit_live_job']} kills hit a running job; re-measured {k['re_measured']} of "
            f"{k['measured']}; {k['interrupted']} of {len(k['jobs'])} job rows read interrupted",
        ]
        for k in results["kills"]
    ]
    w = results["writers"]
    rows.append(
        [
            f"{w['writers']} concurrent writers",
            w["writers"] * w["rows_each"],
            w["found"],
            w["lost"],
            f"{w['seconds']:.1f} s, {w['failed_processes']} writer(s) failed",
        ]
    )
    bad = results["bad_files"]
    rows.append(
        [
            "bad files (reader + writer)",
            len(bad),
            sum(b["refused_cleanly"] and b["unchanged"] for b in bad),
            sum(not b["unchanged"] for b in bad),
            ", ".join(b["file"] for b in bad),
        ]
    )
    text = C.table(["fault", "tried", "survived", "lost", "notes"], rows)
    print(C.wrap(METHOD))
    print(text)
    out = C.write_result(NAME + ("-quick" if a.quick else ""), METHOD, results, text, sys.argv[1:])
    print(f"wrote {out.relative_to(C.ROOT)}")


if __name__ == "__main__":
    main()
