"""`autotune db query`, and the sqlite-utils and datasette recipes of docs/database.md, run for
real on a database filled through the API: formats, parameters, streaming, a write refused
with the file unchanged, bad SQL and a missing file in one line each."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from autotune.db import TargetInfo, open_db

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
T = TargetInfo("llvm", "test cpu", ("avx2",), "tvm", "0.27.0")
LONG = {"trace": "x" * 200}


def run(*argv: str | Path, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "AUTOTUNE_DB"}
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    full_env.update(env or {})
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=240, env=full_env, cwd=cwd
    )


def query(path: Path, *args: str) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "autotune.cli.main", "db", "query", "--db", path, *args)


def tool(name: str) -> str:
    found = BIN / name
    if not found.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}: pip install -e '.[test]'")
    return str(found)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stdout + res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autotune: error: "), res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def fill(path: Path) -> Path:
    """A small real database: two workloads of a model, one with a confirmed best, failures,
    an end-to-end measurement and a job's report."""
    with open_db(path) as db:
        t = db.target_id(T)
        job = db.start_job({"models": ["mlp"]})
        a = db.add_workload("tvm:sh1:a", "tvm", "fused_a", "{}")
        b = db.add_workload("tvm:sh1:b", "tvm", "fused_b", "{}")
        for w in (a, b):
            db.record(w, "default", {}, t, "ok", [2e-3, 2e-3], source="default", job_id=job)
            db.record(w, "trace", LONG, t, "ok", [1e-3, 1.2e-3], job_id=job)
            db.record(w, "trace", {"trace": [2]}, t, "build_error", error="boom", job_id=job)
        db.record_pair(a, "trace", LONG, t, [2e-3] * 3, [1e-3] * 3, job_id=job)  # won
        db.record_pair(b, "trace", LONG, t, [1e-3] * 3, [1.2e-3] * 3, job_id=job)  # lost
        mlp = db.set_model("mlp", "tvm", "zoo:mlp", [(a, 2), (b, 1)])
        db.add_model_measurement(mlp, t, [1.5e-3] * 3, [2e-3] * 3, 1.33, job_id=job)
        db.add_job_model(job, "mlp", "tvm", t, "tuned", 4, 2, 1.5, {"status": "tuned"})
        db.finish_job(job, "done")
    return path


@pytest.fixture
def tuning(tmp_path: Path) -> Path:
    return fill(tmp_path / "tuning.sqlite")


def test_json_csv_and_table(tuning):
    sql = "select workload, weight, speedup from model_best_configs order by workload"
    res = query(tuning, sql, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [{"workload": "fused_a", "weight": 2, "speedup": 2.0}]
    res = query(tuning, "select workload, status from measurements_named order by id", "--csv")
    assert res.returncode == 0, res.stderr
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0] == ["workload", "status"] and len(rows) == 1 + 10
    assert rows[1:4] == [["fused_a", "ok"], ["fused_a", "ok"], ["fused_a", "build_error"]]
    for args in ((), ("--table",)):  # the default
        res = query(tuning, sql, *args)
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0].split() == ["workload", "weight", "speedup"] and set(lines[1]) <= {"-", " "}
        assert lines[2].split() == ["fused_a", "2", "2.0"] and len(lines) == 3


def test_long_values_shortened_in_a_table_only(tuning):
    sql = "select config from best_configs"
    table = query(tuning, sql).stdout.splitlines()
    assert len(table[2]) == 60 and table[2].endswith("...") and table[2].startswith('{"trace":"xxx')
    assert json.loads(json.loads(query(tuning, sql, "--json").stdout)[0]["config"]) == LONG
    assert json.loads(list(csv.reader(io.StringIO(query(tuning, sql, "--csv").stdout)))[1][0]) == LONG


def test_blobs_and_nulls_never_crash_a_format(tuning):
    sql = "select x'00ff' as b, null as n, 'é' as s, 1.5 as f"
    assert json.loads(query(tuning, sql, "--json").stdout) == [
        {"b": {"$base64": True, "encoded": "AP8="}, "n": None, "s": "é", "f": 1.5}
    ]
    assert list(csv.reader(io.StringIO(query(tuning, sql, "--csv").stdout))) == [
        ["b", "n", "s", "f"],
        ["AP8=", "", "é", "1.5"],
    ]
    assert query(tuning, sql).stdout.splitlines()[2].split() == ["<2", "bytes>", "é", "1.5"]


def test_no_rows(tuning):
    sql = "select workload from best_configs where 0"
    assert query(tuning, sql, "--json").stdout == "[]\n"
    assert query(tuning, sql, "--csv").stdout == ""
    assert query(tuning, sql).stdout == "(no rows)\n"


def test_params(tuning):
    sql = "select workload, weight from model_best_configs where model = :model and target_id = :t"
    res = query(tuning, sql, "-p", "model=mlp", "--param", ":t=1", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [{"workload": "fused_a", "weight": 2}]
    assert json.loads(query(tuning, sql, "-p", "model=nope", "-p", "t=1", "--json").stdout) == []
    assert json.loads(query(tuning, "select :v as v", "-p", "v=a=b", "--json").stdout) == [{"v": "a=b"}]
    assert_one_line_error(query(tuning, sql, "-p", "model=mlp"), "query failed")  # :t has no value
    assert_one_line_error(query(tuning, sql, "-p", "model"), "--param", "NAME=VALUE")


WRITES = [
    ("DELETE FROM measurements", "DELETE refused"),
    ("delete from measurements where 1 returning id", "DELETE refused"),
    ("update measurements set median = 0", "UPDATE refused"),
    ("insert into meta(key, value) values ('k', 'v') returning *", "INSERT refused"),
    ("with x as (select 1) delete from jobs", "DELETE refused"),
    ("replace into meta(key, value) values ('schema_version', '9')", "INSERT refused"),
    ("drop view best_configs", "refused"),
    ("create table t(a)", "refused"),
    ("create temp table t(a)", "refused"),
    ("pragma user_version = 7", "PRAGMA user_version=7 refused"),
    ("pragma query_only = 0", "PRAGMA query_only=0 refused"),
    ("pragma journal_mode = delete", "PRAGMA journal_mode=delete refused"),
    ("pragma wal_checkpoint(truncate)", "refused"),
    ("attach '{other}' as o", "only reads"),
    ("vacuum", "only reads"),
    ("begin immediate", "only reads"),
    ("select 1; delete from measurements", "one statement"),
]


@pytest.mark.parametrize("sql,message", WRITES, ids=[w[0] for w in WRITES])
def test_a_write_is_refused_and_the_file_unchanged(tuning, tmp_path, sql, message):
    other = tmp_path / "other.sqlite"
    before = digest(tuning)
    res = query(tuning, sql.format(other=other))
    assert_one_line_error(res, message)
    assert digest(tuning) == before and not other.exists()
    with open_db(tuning, readonly=True) as db:
        assert db.stats()["measurements"] == 10 and db.schema_version == 4


def test_reading_pragmas_are_allowed(tuning):
    cols = json.loads(query(tuning, "pragma table_info(best_configs)", "--json").stdout)
    assert "speedup" in [c["name"] for c in cols]
    res = query(tuning, "select name from pragma_table_info('measurements') order by cid", "--csv")
    assert res.stdout.splitlines()[1:3] == ["id", "uid"]
    assert json.loads(query(tuning, "pragma user_version", "--json").stdout) == [{"user_version": 0}]


@pytest.mark.parametrize(
    "sql,needle",
    [
        ("selec 1", 'near "selec": syntax error'),
        ("select * from no_such_view", "no such table: no_such_view"),
        ("select nope from best_configs", "no such column: nope"),
        ("", "one statement that returns rows"),
        ("select json('{bad')", "malformed JSON"),
    ],
)
def test_bad_sql_is_one_line(tuning, sql, needle):
    before = digest(tuning)
    assert_one_line_error(query(tuning, sql, "--json"), needle)
    assert digest(tuning) == before


def test_missing_file_is_one_line_and_never_created(tmp_path):
    missing = tmp_path / "nope.sqlite"
    assert_one_line_error(query(missing, "select 1"), "no such database")
    assert not missing.exists()
    res = run(
        sys.executable,
        "-m",
        "autotune.cli.main",
        "db",
        "query",
        "select 1",
        env={"AUTOTUNE_DB": str(missing)},
    )
    assert_one_line_error(res, str(missing), "no such database")
    assert not missing.exists()


def test_default_database_is_autotune_db(tuning):
    res = run(
        sys.executable,
        "-m",
        "autotune.cli.main",
        "db",
        "query",
        "select count(*) as n from best_configs",
        "--json",
        env={"AUTOTUNE_DB": str(tuning)},
    )
    assert res.returncode == 0 and json.loads(res.stdout) == [{"n": 1}], res.stderr


def test_an_older_schema_reads_through_its_upgraded_copy_and_is_never_written(tmp_path, monkeypatch):
    from autotune.db import schema

    path = tmp_path / "v3.sqlite"
    shipped = schema.migrations()
    with monkeypatch.context() as m:
        m.setattr(schema, "migrations", lambda: [(n, sql) for n, sql in shipped if n <= 3])
        with open_db(path) as db:
            t, a = db.target_id(T), db.add_workload("tvm:sh1:a", "tvm", "fused_a", "{}")
            db.record(a, "trace", LONG, t, "ok", [1e-3])
            db.conn.execute("BEGIN")  # a confirmation as schema version 3 kept it: two rows
            for kind, config, samples in (("default", {}, [2e-3] * 3), ("trace", LONG, [1e-3] * 3)):
                db._insert(db.conn, a, kind, config, t, "ok", samples, "", None, "confirm")
            db.conn.execute("COMMIT")
            assert db.schema_version == 3
    before = digest(path)
    res = query(path, "select workload, round(speedup, 3) as speedup from best_configs", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [{"workload": "fused_a", "speedup": 2.0}]
    # The copy in memory could take a write; the authorizer refuses it there too.
    assert_one_line_error(query(path, "delete from measurements returning id"), "DELETE refused")
    assert_one_line_error(query(path, "update meta set value = '9' returning *"), "UPDATE refused")
    assert digest(path) == before


def test_a_live_database_shows_what_a_running_job_committed(tuning):
    with open_db(tuning) as db:  # a job still writing: its commits may sit in the -wal file
        w = db.workload_id("tvm:sh1:b")
        db.record(w, "trace", {"trace": [9]}, db.find_target(T), "timeout")
        res = query(tuning, "select count(*) as n from measurements_named where status = 'timeout'", "--json")
        assert json.loads(res.stdout) == [{"n": 1}], res.stderr


def test_large_results_stream_in_every_format(tuning):
    n = 2500
    sql = (
        f"with recursive r(i) as (select 1 union all select i + 1 from r where i < {n})"
        " select i, 'w' || i as w from r"
    )
    assert [r["i"] for r in json.loads(query(tuning, sql, "--json").stdout)] == list(range(1, n + 1))
    assert len(list(csv.reader(io.StringIO(query(tuning, sql, "--csv").stdout)))) == n + 1
    table = query(tuning, sql).stdout.splitlines()
    headers = [i for i, line in enumerate(table) if line.split() == ["i", "w"]]
    assert headers == [0, 1003, 2006]  # 1,000 rows aligned at a time
    assert len(table) == n + 3 * 2 + 2


def test_a_reader_that_goes_away_is_no_error(tuning):
    sql = "with recursive r(i) as (select 1 union all select i + 1 from r where i < 300000) select i from r"
    env = {k: v for k, v in os.environ.items() if k != "AUTOTUNE_DB"}
    env["PYTHONPATH"] = str(ROOT)
    p = subprocess.Popen(
        [sys.executable, "-m", "autotune.cli.main", "db", "query", "--db", str(tuning), sql, "--csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert p.stdout.readline() == b"i\r\n"
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0 and err == "", err


# --- the recipes of docs/database.md, run as written ------------------------------------------
def test_sqlite_utils_recipe(tuning):
    su = tool("sqlite-utils")
    before = digest(tuning)
    cwd = tuning.parent
    res = run(su, "views", "tuning.sqlite", "--csv", cwd=cwd)
    assert res.returncode == 0, res.stderr
    assert {"best_configs", "model_best_configs", "model_results", "measurements_named"} <= set(
        res.stdout.split()
    )
    res = run(su, "tables", "tuning.sqlite", "--counts", "--csv", cwd=cwd)
    counts = dict(list(csv.reader(io.StringIO(res.stdout)))[1:])
    assert counts["measurements"] == "10" and counts["job_models"] == "1"
    sql = "select model, workload, speedup from model_best_configs"
    res = run(su, "query", "tuning.sqlite", sql, "--table", cwd=cwd)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[2].split() == ["mlp", "fused_a", "2"]
    res = run(su, "rows", "tuning.sqlite", "best_configs", "--csv", cwd=cwd)
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    with open_db(tuning, readonly=True) as db:
        best = db.best(db.workload_id("tvm:sh1:a"), db.find_target(T))
        assert [(r["workload"], int(r["config_id"]), json.loads(r["config"])) for r in rows] == [
            ("fused_a", best.config_id, best.config)
        ]
    assert digest(tuning) == before


@pytest.mark.parametrize("immutable", [True, False], ids=["immutable", "read-only"])
def test_datasette_recipe(tuning, immutable):
    ds = tool("datasette")
    before = digest(tuning)
    mode = ["--immutable", "tuning.sqlite"] if immutable else ["tuning.sqlite"]
    res = run(ds, *mode, "--get", "/tuning/best_configs.json?_shape=array", cwd=tuning.parent)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [(r["workload"], r["speedup"], json.loads(r["config"])) for r in rows] == [("fused_a", 2.0, LONG)]
    sql = "/tuning.json?sql=select+model,workload,weight+from+model_best_configs&_shape=array"
    res = run(ds, *mode, "--get", sql, cwd=tuning.parent)
    assert json.loads(res.stdout) == [{"model": "mlp", "workload": "fused_a", "weight": 2}], res.stderr
    assert digest(tuning) == before


def documented_commands() -> list[str]:
    """Every command line of docs/database.md's sh blocks that runs without a server."""
    text = (ROOT / "docs" / "database.md").read_text()
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```sh"
            continue
        if inside and line.startswith(("autotune db query", "sqlite-utils ", "datasette ")):
            if not line.startswith("datasette ") or "--get" in line:
                lines.append(line)
    return lines


def test_every_documented_command_runs(tuning):
    commands = documented_commands()
    assert sum(c.startswith("autotune db query") for c in commands) >= 8
    assert sum(c.startswith("sqlite-utils") for c in commands) >= 4
    assert sum(c.startswith("datasette") for c in commands) >= 2
    before = digest(tuning)
    for line in commands:
        argv = shlex.split(line, comments=True)
        comment = line.partition("   # ")[2]
        if argv[0] == "autotune":
            argv = [sys.executable, "-m", "autotune.cli.main", *argv[1:]]
        else:
            argv[0] = tool(argv[0])
        res = run(*argv, env={"AUTOTUNE_DB": str(tuning)}, cwd=tuning.parent)
        if comment.startswith("autotune: error:"):  # a documented refusal, word for word
            assert res.returncode == 2 and res.stderr.strip() == comment, (line, res.stderr)
            continue
        assert res.returncode == 0, (line, res.stderr)
        assert res.stdout.strip() and "Traceback" not in res.stderr, (line, res.stdout, res.stderr)
    assert digest(tuning) == before
