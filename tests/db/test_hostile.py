"""A database from elsewhere is data, never code: hostile inputs refused, compiles never broken.

Real SQLite files, real MetaSchedule logs and traces, real TVM and JAX compiles. Each case
is one a careful user found (issue 14): an imported or merged trace that links LLVM IR into
the user's module, records that cannot be parsed, files that are not databases.
"""

from __future__ import annotations

import json
import sqlite3
import warnings

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
from tvm.s_tir import meta_schedule as ms

from autotune.backends.tvm import msjson, traces
from autotune.db import open_db
from autotune.errors import UserError
from tests.conftest import run_cli
from tests.db.test_msjson import TARGET_2, matmul
from tests.db.test_msjson import traces as real_traces

pytestmark = pytest.mark.timeout(300)

EVIL_LLVM = (
    "define void @evil() { call void @system(i8* getelementptr ([9 x i8], [9 x i8]* @cmd, i32 0)) ret void }"
)


def _with_annotation(trace_json: list, key: str, value: str) -> list:
    insts, decisions = json.loads(json.dumps(trace_json))
    insts.append(["Annotate", ["b0", json.dumps(value)], [key], []])
    return [insts, decisions]


def _ms_log(tmp_path, bodies) -> object:
    """A MetaSchedule JSONDatabase directory: one matmul workload, a record per trace JSON."""
    d = tmp_path / "ms"
    d.mkdir()
    db = ms.database.JSONDatabase(work_dir=str(d), allow_missing=True)
    mod = matmul(32)
    wl = db.commit_workload(mod)
    args = ms.arg_info.ArgInfo.from_prim_func(mod["main"])
    good = real_traces(mod, 2)
    for i, tr in enumerate(good):
        db.commit_tuning_record(
            ms.database.TuningRecord(tr, wl, [1e-5 * (i + 1)], tvm.target.Target(TARGET_2), args)
        )
    base = json.loads(open(d / msjson.RECORD_FILE).readline())[1]
    with open(d / msjson.RECORD_FILE, "a") as f:
        for trace_json, secs in bodies(base[0]):
            f.write(json.dumps([0, [trace_json, secs, base[2], base[3]]]) + "\n")
    return d


def _plain(trace, mod) -> list:
    """A trace as the database stores it (plain JSON)."""
    from autotune.backends.tvm.database import trace_json

    args = ms.arg_info.ArgInfo.from_prim_func(mod["main"])
    rec = ms.database.TuningRecord(trace, ms.database.Workload(mod), None, tvm.target.Target(TARGET_2), args)
    return json.loads(
        json.dumps(trace_json(rec), default=lambda o: o.value if hasattr(o, "value") else str(o))
    )


def test_the_allow_list_accepts_metaschedule_and_refuses_code():
    mod = matmul(16)
    tr = _plain(real_traces(mod, 1)[0], mod)
    assert traces.check(tr) == ""
    for key in ("pragma_import_llvm", "pragma_import_c"):
        assert key in traces.check(_with_annotation(tr, key, EVIL_LLVM))
    # An allowed key cannot carry a payload either, nor can an unknown instruction run.
    assert "plain short values" in traces.check(_with_annotation(tr, "meta_schedule.parallel", "x" * 5000))
    insts, dec = tr
    assert "is not a schedule instruction" in traces.check([insts + [["EnterShell", [], [], []]], dec])
    assert traces.check([[], [[5, 1]]]).startswith("a decision names instruction")
    assert traces.check({"trace": 1}).startswith("not a MetaSchedule trace")


def test_import_refuses_injected_traces_and_keeps_the_rest(tmp_path):
    d = _ms_log(
        tmp_path,
        lambda t: [
            (_with_annotation(t, "pragma_import_llvm", EVIL_LLVM), [1e-9]),
            (_with_annotation(t, "pragma_import_c", "int main(){}"), [1e-9]),
        ],
    )
    db = tmp_path / "t.sqlite"
    r = run_cli("db", "import", "--format", "metaschedule", str(d), "--db", str(db))
    assert r.returncode == 0, r.stderr
    refused = [ln for ln in r.stderr.splitlines() if "refused" in ln]
    assert len(refused) == 2 and "pragma_import_llvm" in refused[0] and "pragma_import_c" in refused[1]
    assert "imported 2 records" in r.stdout and "refused 2 record(s)" in r.stdout
    with open_db(db, readonly=True) as store:
        text = "".join(row["config"] for t, row in store.dump() if t == "configs")
        assert "pragma_import" not in text
        assert store.check() == []


def test_import_zero_run_time_is_a_failed_run_and_deep_nesting_is_one_line(tmp_path):
    d = _ms_log(tmp_path, lambda t: [(t, [0.0])])
    log = msjson.read_ms(d)
    assert [r.status for r in log.records] == ["ok", "ok", "run_error"]
    with open(d / msjson.RECORD_FILE, "a") as f:
        f.write("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(UserError, match="nested too deeply"):
        msjson.read_ms(d)


# --- compile time: whatever is in the database, the user's model compiles --------------
@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """(relax module, inputs, default outputs, a database whose first subgraph has a winning
    confirmation with a real trace)."""
    from autotune import backends
    from autotune.backends.tvm import importer

    be = backends.get("tvm")
    target = be.resolve_target("llvm")
    path = tmp_path_factory.mktemp("mlp") / "t.sqlite"
    with open_db(path) as db, be.open(target, db, None) as s:
        model = s.load("mlp", be.load_model("mlp"))
        w = s.workloads(model)[0]
        wid = db.add_workload(w.fingerprint, "tvm", w.name, w.ir, w.meta)
        db.set_model("mlp", "tvm", "mlp", [(wid, 1)])
        tid = s.target_id
        trace = [[], []]  # the empty schedule: applies anywhere, changes nothing
        db.record_pair(wid, "trace", {"trace": trace}, tid, [2e-3] * 3, [1e-3] * 3)
    want = importer.run(importer.build_default(model.mod, target), model.inputs)
    return model.mod, model.inputs, want, path


def _compile_warns(mod, db, **kw):
    import autotune.tvm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ex = autotune.tvm.compile(mod, "llvm", db=str(db), **kw)
    return ex, [str(w.message) for w in caught if "autotune" in str(w.message)]


def _edit(path, sql, args=()):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, args)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _copy(src, dst):
    """A file copy (a merge would mark every row foreign: nothing would be applied)."""
    import shutil

    shutil.copyfile(src, dst)
    return dst


def test_a_healthy_database_applies_without_warning(mlp):
    from autotune.backends.tvm import importer

    mod, inputs, want, path = mlp
    ex, warned = _compile_warns(mod, path)
    assert warned == []
    np.testing.assert_allclose(importer.run(ex, inputs)[0], want[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "damage",
    ["smuggled-trace", "stale-trace", "config-not-json", "config-a-list", "random-bytes", "newer-schema"],
)
def test_compile_never_breaks(mlp, tmp_path, damage):
    from autotune.backends.tvm import importer

    mod, inputs, want, path = mlp
    db = _copy(path, tmp_path / "copy.sqlite")
    trace_row = "(SELECT MAX(id) FROM configs WHERE kind='trace')"
    if damage == "smuggled-trace":
        (cfg,) = sqlite3.connect(db).execute(f"SELECT config FROM configs WHERE id={trace_row}").fetchone()
        bad = {"trace": _with_annotation(json.loads(cfg)["trace"], "pragma_import_llvm", EVIL_LLVM)}
        _edit(db, f"UPDATE configs SET config=? WHERE id={trace_row}", (json.dumps(bad),))
    elif damage == "stale-trace":  # allowed instructions, but for a block this workload lacks
        stale = {"trace": [[["GetSBlock", [], ["no_such_block", "main"], ["b0"]]], []]}
        _edit(db, f"UPDATE configs SET config=? WHERE id={trace_row}", (json.dumps(stale),))
    elif damage == "config-not-json":
        _edit(db, f"UPDATE configs SET config='{{not json' WHERE id={trace_row}")
    elif damage == "config-a-list":
        _edit(db, f"UPDATE configs SET config='[1, 2]' WHERE id={trace_row}")
    elif damage == "random-bytes":
        db.write_bytes(np.random.default_rng(0).bytes(8192))
    else:
        _edit(db, "UPDATE meta SET value='999' WHERE key='schema_version'")
    ex, warned = _compile_warns(mod, db)
    assert len(warned) == 1, warned
    assert str(db) in warned[0] or "unusable" in warned[0]
    np.testing.assert_allclose(importer.run(ex, inputs)[0], want[0], rtol=1e-4, atol=1e-5)
    with pytest.raises(Exception):  # noqa: B017 - strict: whatever the problem is, it surfaces
        _compile_warns(mod, db, strict=True)


@pytest.fixture(scope="module")
def jax_db(tmp_path_factory):
    """(function, argument, a database whose best for it is a real XLA option)."""
    import jax
    import jax.numpy as jnp

    from autotune import backends
    from autotune.backends.xla.workload import fingerprint

    def fn(x):
        return jnp.tanh(x @ x.T).sum(axis=0)

    x = jnp.linspace(-1.0, 1.0, 64 * 32, dtype=jnp.float32).reshape(64, 32)
    path = tmp_path_factory.mktemp("jax") / "t.sqlite"
    be = backends.get("xla")
    with open_db(path) as db:
        tid = db.target_id(be.describe(be.resolve_target("cpu")))
        from autotune.passes import xla_options

        meta = {"options": xla_options.available()}
        wid = db.add_workload(fingerprint(jax.jit(fn).lower(x)), "xla", "fn", "hlo", meta)
        config = {"opt:xla_cpu_prefer_vector_width": 256}
        db.record_pair(wid, "options", config, tid, [2e-3] * 3, [1e-3] * 3)
    return fn, x, path


def test_jit_applies_a_healthy_database_silently(jax_db):
    import autotune.jax

    fn, x, path = jax_db
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = autotune.jax.jit(fn, db=path)
        f(x)
    assert [w for w in caught if "autotune" in str(w.message)] == []
    assert f.last.config == {"opt:xla_cpu_prefer_vector_width": 256}


@pytest.mark.parametrize("damage", ["config-not-json", "config-a-list", "meta-not-json", "random-bytes"])
def test_jit_never_breaks(jax_db, tmp_path, damage):
    import jax

    import autotune.jax

    fn, x, path = jax_db
    db = _copy(path, tmp_path / "copy.sqlite")
    if damage == "config-not-json":
        _edit(db, "UPDATE configs SET config='{not json' WHERE kind='options'")
    elif damage == "config-a-list":
        _edit(db, "UPDATE configs SET config='[1, 2]' WHERE kind='options'")
    elif damage == "meta-not-json":
        _edit(db, "UPDATE workloads SET meta='{not json'")
    else:
        db.write_bytes(np.random.default_rng(1).bytes(8192))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = autotune.jax.jit(fn, db=db)
        out = f(x)
    warned = [str(w.message) for w in caught if "autotune" in str(w.message)]
    assert len(warned) == 1 and not f.last.tuned, warned
    np.testing.assert_allclose(np.asarray(out), np.asarray(jax.jit(fn)(x)), rtol=1e-5)
    with pytest.raises(Exception):  # noqa: B017 - strict: the problem surfaces
        autotune.jax.jit(fn, db=db, strict=True)(x)


# --- trust: only what was measured here decides a best -----------------------------------
def _target():
    from autotune.db import TargetInfo

    return TargetInfo("llvm", "cpu", ("avx2",), "tvm", "0.27.0", {}, {"kind": "llvm"})


def _winning_pair(db, wid, tid, host=None):
    if host is None:
        db.record_pair(wid, "trace", {"trace": [[], []]}, tid, [2e-3] * 3, [1e-3] * 3)
        return
    # Another host's pair, with a verdict forged onto it (a merge brings none).
    first = db.record(wid, "default", {}, tid, "ok", [2e-3] * 3, source="confirm", host=host)
    second = db.record(wid, "trace", {"trace": [[], []]}, tid, "ok", [1e-3] * 3, source="confirm", host=host)
    db.conn.execute("UPDATE measurements SET paired_with=?, speedup=2, won=1 WHERE id=?", (first, second))


def test_foreign_confirmations_never_decide_a_best(tmp_path):
    with open_db(tmp_path / "t.sqlite") as db:
        tid, wid = db.target_id(_target()), db.add_workload("tvm:sh1:ab", "tvm", "w", "{}")
        _winning_pair(db, wid, tid, host="someone-else")
        db.record(wid, "trace", {"trace": [[], []]}, tid, "ok", [1e-3], host="someone-else")
        assert db.best(wid, tid) is None  # claimed elsewhere: decides nothing ...
        assert [b.median for b in db.fastest(wid, tid, 5)] == [1e-3]  # ... it is a candidate to re-measure
        _winning_pair(db, wid, tid)
        assert db.best(wid, tid) is not None  # re-measured here


def test_merge_rebuilds_rows_from_content_and_marks_them_foreign(tmp_path):
    other = tmp_path / "other.sqlite"
    with open_db(other) as db:
        tid, wid = db.target_id(_target()), db.add_workload("tvm:sh1:ab", "tvm", "w", "{}")
        _winning_pair(db, wid, tid)
        assert db.best(wid, tid) is not None  # a best in its own file
        db.record(wid, "trace", {"trace": [[], [[0, 1]]]}, tid, "ok", [5e-3])
        db.record(wid, "trace", {"trace": [[["Split", [], [], []]], []]}, tid, "ok", [7e-3])
    # Forgeries: a fabricated median, an 'ok' without samples, a config edited under its key.
    _edit(other, "UPDATE measurements SET median=1e-12 WHERE samples='[0.005]'")
    _edit(other, "UPDATE measurements SET samples='[]' WHERE samples='[0.007]'")
    _edit(other, """UPDATE configs SET config='{"trace":[[],[[0,9]]]}' WHERE config LIKE '%[0,1]%'""")
    with open_db(tmp_path / "here.sqlite") as db, open_db(other, readonly=True) as src:
        added = db.merge_from(src)
        assert added["refused"] == 1 and added["measurements"] == 3
        wid, tid = db.workload_id("tvm:sh1:ab"), db.find_target(_target())
        assert db.best(wid, tid) is None  # merged: unverified here
        medians = sorted(b.median for b in db.fastest(wid, tid, 10))
        assert 1e-12 not in medians and 5e-3 in medians  # recomputed from the samples
        assert db.check() == []  # every key matches its content
        hosts = {r["host"] for t, r in db.dump() if t == "measurements"}
        assert all(h.endswith("(merged)") for h in hosts)


def test_merged_baselines_are_rebuilt_from_their_samples_and_never_outrank_local_ones(tmp_path):
    other = tmp_path / "other.sqlite"
    with open_db(other) as db:
        tid, wid = db.target_id(_target()), db.add_workload("tvm:sh1:ab", "tvm", "w", "{}")
        mid = db.set_model("mlp", "tvm", "mlp", [(wid, 1)])
        db.add_baseline(mid, tid, "torch", "ok", [4e-3, 4e-3], [2e-3, 2e-3])
        db.add_baseline(mid, tid, "torch.compile", "ok", [1e-3], [1e-3])
    # Forgeries: a fabricated speedup and median, and an 'ok' whose tuned samples are gone.
    _edit(other, "UPDATE baselines SET speedup=1e5, median_s=1.0 WHERE name='torch'")
    _edit(other, "UPDATE baselines SET tuned_samples='[]' WHERE name='torch.compile'")
    with open_db(other, readonly=True) as src:
        assert len(src.check()) == 2  # `db check` sees both
    with open_db(tmp_path / "here.sqlite") as db, open_db(other, readonly=True) as src:
        added = db.merge_from(src)
        assert added["baselines"] == 1 and added["refused"] == 1
        (row,) = [r for t, r in db.dump() if t == "baselines"]
        assert row["speedup"] == 2.0 and row["median_s"] == 4e-3 and row["host"].endswith("(merged)")
        mid, tid = db.model("mlp")["id"], db.find_target(_target())
        assert db.baselines(mid, tid) == {}  # another host's numbers are never shown as ours
        db.add_baseline(mid, tid, "torch", "ok", [1e-3], [2e-3])
        assert db.baselines(mid, tid)["torch"]["speedup"] == 0.5 and db.check() == []


def test_a_killed_job_reads_interrupted(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "t.sqlite"
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    with open_db(path) as db:
        job = db.start_job({"models": ["mlp"]})
        assert [j["status"] for j in db.jobs()] == ["running"]  # this process: alive
    _edit(path, "UPDATE jobs SET pid=? WHERE id=?", (int(gone.stdout), job))
    with open_db(path, readonly=True) as db:
        assert [j["status"] for j in db.jobs()] == ["interrupted"]  # read-only: shown, not written
    with open_db(path) as db:
        (row,) = [r for t, r in db.dump() if t == "jobs"]
        assert row["status"] == "interrupted" and row["finished_at"] is not None
    r = run_cli("db", "stats", "--db", str(path))
    assert "jobs: interrupted 1" in r.stdout


def test_verify_remeasures_a_foreign_claim_on_real_tvm(mlp, tmp_path):
    """A merged 1 ns claim is never applied; `autotune db verify` times it here and it loses."""
    mod, inputs, want, path = mlp
    db = _copy(path, tmp_path / "copy.sqlite")
    _edit(db, "DELETE FROM measurements WHERE source='confirm'")
    with open_db(db) as store:
        ((tid, _),) = store.targets()
        (w,) = [r for r in store.workloads("tvm")]
        store.record(w["id"], "trace", {"trace": [[], []]}, tid, "ok", [1e-9], host="elsewhere")
        assert store.best(w["id"], tid) is None and store.unverified(tid) == [w["id"]]
    r = run_cli("db", "verify", "--backend", "tvm", "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert "default kept" in r.stdout and "1 default kept" in r.stdout.splitlines()[-1]
    with open_db(db, readonly=True) as store:
        assert store.unverified(tid) == [] and store.best(w["id"], tid) is None
    assert "nothing to verify" in run_cli("db", "verify", "--db", str(db)).stdout


# --- read-only sharing ------------------------------------------------------------------
@pytest.fixture
def read_only_copy(tmp_path, mlp):
    """The mlp database, published on a read-only bind mount (needs root, as CI runs)."""
    import shutil
    import subprocess

    src, mnt = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    mnt.mkdir()
    shutil.copyfile(mlp[3], src / "t.sqlite")
    ok = subprocess.run(["mount", "--bind", str(src), str(mnt)], capture_output=True).returncode == 0
    ok = (
        ok
        and subprocess.run(["mount", "-o", "remount,ro,bind", str(mnt)], capture_output=True).returncode == 0
    )
    if not ok:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        pytest.skip("needs permission to bind-mount read-only (root)")
    try:
        yield mnt / "t.sqlite"
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_read_only_database_is_read_by_everyone_and_refused_to_writers(read_only_copy, mlp):
    from autotune.backends.tvm import importer

    path = read_only_copy
    for args in (["db", "stats"], ["db", "check"]):
        r = run_cli(*args, "--db", str(path))
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    r = run_cli("best", "mlp", "--db", str(path))
    rows = [line for line in r.stdout.splitlines() if "2.00x" in line]
    assert r.returncode == 0 and rows and " tuned " in rows[0], r.stdout + r.stderr  # its best is read
    ex, warned = _compile_warns(mlp[0], path)  # its best applies, no warning
    assert warned == []
    np.testing.assert_allclose(importer.run(ex, mlp[1])[0], mlp[2][0], rtol=1e-4, atol=1e-5)
    r = run_cli("tune", "--model", "mlp", "--trials", "2", "--db", str(path))
    assert r.returncode != 0 and "read-only" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_an_imported_log_can_be_named_a_model_and_oversized_lines_are_refused(tmp_path):
    d = _ms_log(tmp_path, lambda t: [])
    db = tmp_path / "t.sqlite"
    r = run_cli("db", "import", "--format", "metaschedule", str(d), "--model", "mm", "--db", str(db))
    assert r.returncode == 0, r.stderr
    r = run_cli("best", "mm", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    (s,) = json.loads(r.stdout)["subgraphs"]
    assert s["schedule"] == "default" and s["trials"] == 0  # imported: unverified, nothing applied
    with open(d / msjson.RECORD_FILE, "a") as f:
        f.write("[0, [" + " " * (5 << 20) + "]]\n")
    with pytest.raises(UserError, match="over the limit"):
        msjson.read_ms(d)


def test_a_shard_of_our_own_fan_out_keeps_its_hosts_and_gets_its_verdicts_again(tmp_path):
    """`merge_from(own_shard=True, jobs_as=J)` (the Ray fan-out): rows are validated as in any
    merge, but keep the host that measured them; verdicts are recomputed from the samples (a
    forged one does not survive); the shard's own jobs become job J."""
    shard = tmp_path / "shard.sqlite"
    with open_db(shard) as db:
        tid, wid = db.target_id(_target()), db.add_workload("tvm:sh1:ab", "tvm", "w", "{}")
        job = db.start_job({})
        db.record(wid, "trace", {"trace": [[], []]}, tid, "ok", [1e-3], job_id=job)
        db.record_pair(wid, "trace", {"trace": [[], []]}, tid, [2e-3] * 3, [1e-3] * 3, job_id=job)
        lost = db.add_workload("tvm:sh1:cd", "tvm", "v", "{}")
        db.record_pair(lost, "trace", {"trace": [[], []]}, tid, [1e-3] * 3, [2e-3] * 3, job_id=job)
        db.conn.execute("UPDATE measurements SET won=1, speedup=9 WHERE won=0")  # a forged verdict
    with open_db(tmp_path / "here.sqlite") as db, open_db(shard, readonly=True) as src:
        driver = db.start_job({"ray": "local"})
        db.merge_from(src, own_shard=True, jobs_as=driver)
        wid, lost, tid = db.workload_id("tvm:sh1:ab"), db.workload_id("tvm:sh1:cd"), db.find_target(_target())
        assert db.best(wid, tid).speedup == pytest.approx(2.0)  # measured here: it decides
        assert db.best(lost, tid) is None  # the forged verdict was recomputed: a loss
        assert [j["id"] for j in db.jobs()] == [driver]
        assert len(list(db.job_outcomes(driver))) == 5 and db.check() == []
