"""Readable CLI output: `autotune best`'s columns each mean one thing (and say which way a
ratio goes), every command that prints a table or results can print JSON instead, and a
tuning job's progress bar shows trials done of those left and an ETA that the job's clock
can cut. The commands run for real, on SQLite databases written through the project's API."""

from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace

import pytest

from autotune.cli.main import main
from autotune.db import TargetInfo, open_db
from autotune.db.recorder import Recorder
from autotune.tuning.report import ModelResult
from tests.conftest import run_cli
from tests.test_cli_db import make_db, ms_dir  # noqa: F401  (ms_dir: a fixture)

pytestmark = pytest.mark.timeout(300)

DEFAULT = [1e-4] * 5


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def best_db(tmp_path):
    """An XLA model of five subgraphs, each with a different latest confirmation: a candidate
    50x slower (lost), one 2x faster (won, kept), one 1% faster (under the margin), one that
    won and then gave wrong outputs, and one never confirmed."""
    path = tmp_path / "best.sqlite"
    with open_db(path) as db:
        tid = db.target_id(TargetInfo("cpu", "test cpu", ("avx2",), "xla", "0.10.2"))
        names = ["jit_slow", "jit_fast", "jit_close", "jit_wrong", "jit_new"]
        wids = [db.add_workload(f"xla:h1:{n}", "xla", n, "HloModule m") for n in names]
        db.set_model("mlp", "xla", "mlp", [(w, i + 1) for i, w in enumerate(wids)])
        rec = Recorder(db, tid, db.start_job({"test": "best"}), kind="options")
        for w in wids:
            rec(w, {}, "ok", [1.1e-4] * 3, source="default")
            rec(w, {"opt:a": 1}, "ok", [0.9e-4] * 3)
            rec(w, {"opt:a": 2}, "build_error", error="boom")
        slow, fast, close, wrong, _ = wids
        rec.pair(slow, {"opt:a": 1}, DEFAULT, [5e-3] * 5)  # 50x slower
        rec.pair(fast, {"opt:a": 1}, DEFAULT, [0.5e-4] * 5)  # 2x faster
        rec.pair(close, {"opt:a": 1}, DEFAULT, [0.99e-4] * 5)  # 1.01x: under the 2% margin
        rec.pair(wrong, {"opt:a": 1}, DEFAULT, [0.5e-4] * 5)
        rec(wrong, {"opt:a": 1}, "wrong_result", error="outputs differ")
    return path


def _rows(text: str) -> dict[str, str]:
    return {ln.split()[0]: ln for ln in text.splitlines() if ln.startswith("jit_")}


def test_best_columns_each_mean_one_thing(best_db, capsys):
    code, out, err = _cli(capsys, "best", "mlp", "--db", best_db)
    assert code == 0, err
    lines = out.splitlines()
    header = lines[1].split("  ")
    assert [h.strip() for h in header if h.strip()] == [
        "subgraph",
        "x",
        "best us",
        "default us",
        "speedup",
        "kept",
        "trials",
        "last candidate",
        "schedule",
    ]
    rows = _rows(out)
    # The candidate was 50x slower: default / candidate = 0.02x, said as slower and lost; the
    # default is kept, so best us is the default's and the speedup 1.00x.
    slow = rows["jit_slow"].split()
    assert slow[1:7] == ["1", "110.0", "110.0", "1.00x", "default", "2"]
    assert "0.02x (50.0x slower): lost, default kept" in rows["jit_slow"]
    assert rows["jit_slow"].rstrip().endswith("default")
    assert "(the last candidate confirmed" not in out  # the old wording, mixed into schedule
    fast = rows["jit_fast"].split()
    assert fast[1:7] == ["2", "50.0", "100.0", "2.00x", "tuned", "2"]
    assert "2.00x: won, kept" in rows["jit_fast"] and rows["jit_fast"].rstrip().endswith("opt:a=1")
    assert "1.01x: under the 2% margin, default kept" in rows["jit_close"]
    assert rows["jit_close"].split()[4:6] == ["1.00x", "default"]
    assert "2.00x: won, then failed an output check: default kept" in rows["jit_wrong"]
    assert rows["jit_wrong"].split()[4:6] == ["1.00x", "default"]
    new = rows["jit_new"].split()
    assert new[1:9] == ["5", "110.0", "110.0", "1.00x", "default", "2", "-", "default"]
    # One legend says what each column means.
    legend = " ".join(ln.strip() for ln in lines if ln.startswith(("legend:", "  ")))
    for column in ("x =", "best us =", "default us =", "speedup =", "kept =", "trials =", "last candidate ="):
        assert column in legend, legend
    assert "default / candidate (under 1.00x: slower)" in legend


def test_best_json_keeps_its_keys_and_adds_the_kept_config(best_db, capsys):
    code, out, _ = _cli(capsys, "best", "mlp", "--db", best_db, "--json")
    assert code == 0
    subs = {s["workload"]: s for s in json.loads(out)["subgraphs"]}
    slow, fast, new = subs["jit_slow"], subs["jit_fast"], subs["jit_new"]
    old_keys = {"workload", "fingerprint", "weight", "best_s", "default_s", "speedup"}
    old_keys |= {"last_confirmation", "tuned", "trials", "schedule", "contributions"}
    assert old_keys <= set(slow)
    # As before: no best, no best_s or speedup; the schedule is "default".
    assert slow["best_s"] is None and slow["speedup"] is None and slow["schedule"] == "default"
    assert slow["kept"] == "default" and slow["kept_s"] == slow["default_s"] and slow["kept_speedup"] == 1.0
    last = slow["last_confirmation"]
    assert {"speedup", "won", "schedule"} <= set(last)
    # The ratio is default / candidate: a candidate 50x slower is 0.02, not 50.
    assert last["speedup"] == pytest.approx(0.02) and not last["won"] and not last["kept"]
    assert last["candidate_s"] == pytest.approx(5e-3) and last["default_s"] == pytest.approx(1e-4)
    assert fast["kept"] == "tuned" and fast["best_s"] == pytest.approx(5e-5)
    assert fast["speedup"] == fast["kept_speedup"] == pytest.approx(2.0)
    assert fast["last_confirmation"]["kept"] and fast["schedule"] == ["opt:a=1"]
    assert subs["jit_wrong"]["last_confirmation"]["won"] and subs["jit_wrong"]["kept"] == "default"
    assert new["last_confirmation"] is None and new["kept_speedup"] == 1.0


def test_db_commands_print_json(tmp_path, capsys):
    a = make_db(tmp_path / "a.sqlite", "a")
    b = make_db(tmp_path / "b.sqlite", "b", fast=1e-3)
    code, out, _ = _cli(capsys, "db", "check", "--json", "--db", a)
    assert code == 0 and json.loads(out) == {"path": str(a), "ok": True, "problems": []}
    code, out, _ = _cli(capsys, "db", "merge", b, "--json", "--db", a)
    got = json.loads(out)
    assert code == 0 and got["other"] == str(b) and got["path"] == str(a)
    assert got["added"]["measurements"] == 5 and got["added"]["workloads"] == 1
    code, out, _ = _cli(capsys, "db", "merge", b, "--json", "--db", a)
    assert code == 0 and not any(json.loads(out)["added"].values())
    code, out, _ = _cli(capsys, "db", "verify", "--backend", "xla", "--target", "cpu", "--json", "--db", a)
    assert code == 0 and json.loads(out) == {"path": str(a), "results": [], "counts": {}}
    # A damaged row: the problems as a list, and still exit 1.
    import sqlite3

    conn = sqlite3.connect(a)
    with conn:
        conn.execute("UPDATE measurements SET samples='not json' WHERE id=1")
    conn.close()
    code, out, err = _cli(capsys, "db", "check", "--json", "--db", a)
    got = json.loads(out)
    assert code == 1 and not got["ok"] and any("measurement 1" in p for p in got["problems"])
    assert "problem(s)" in err


def test_db_import_and_export_print_json(tmp_path, ms_dir, capsys):  # noqa: F811
    path = tmp_path / "t.sqlite"
    code, out, _ = _cli(capsys, "db", "import", "--format", "metaschedule", ms_dir, "--json", "--db", path)
    got = json.loads(out)
    assert code == 0 and got["path"] == str(path) and got["in_dir"] == str(ms_dir)
    assert (got["records"], got["ok"], got["run_error"], got["new_workloads"]) == (3, 2, 1, 1)
    assert got["refused"] == []
    out_dir = tmp_path / "out"
    code, out, _ = _cli(capsys, "db", "export", out_dir, "--json", "--db", path)
    assert code == 0
    assert json.loads(out) == {"path": str(path), "out_dir": str(out_dir), "workloads": 1, "records": 2}


# --- progress ---------------------------------------------------------------------
class _Tuner:
    """Stands in for `ModelTuner` in `_go_on`: `left` trials, each taking `secs`."""

    def __init__(self, left: int, secs: float) -> None:
        self.n, self.secs = left, secs

    def left(self, plan, force=False) -> int:
        return self.n

    def go_on(self, plan, deadline, force=False, on_outcome=None) -> bool:
        for i in range(self.n):
            time.sleep(self.secs)
            on_outcome(1, "ok" if i % 4 else "build_error", self.secs)
        return True


def _bar(capsys, share_s: float, progress: bool = True) -> tuple[ModelResult, list[str]]:
    from tqdm import tqdm

    from autotune.tuning.job import _go_on

    result = ModelResult("mlp", "xla")
    plan = SimpleNamespace(first=0, by_gain=[])
    entry = SimpleNamespace(name="mlp")
    _go_on(_Tuner(8, 0.03), entry, plan, result, time.time() + share_s, False, progress, tqdm)
    states = [s.strip() for s in re.split(r"[\r\n]", capsys.readouterr().err) if s.strip()]
    return result, states


def test_progress_bar_shows_trials_and_eta(capsys):
    result, states = _bar(capsys, share_s=3600)
    assert result.trials == 8 and result.failures == 2 and result.status == "tuned"
    # Before any trial there is no rate: the clock is the only estimate.
    assert any(s.startswith("mlp") and "0/8" in s and "(clock)" in s for s in states), states
    last = states[-1]
    assert "8/8" in last and "eta 00:00" in last and "(clock)" not in last and "failed 2" in last


def test_progress_eta_is_the_clocks_when_it_ends_first(capsys):
    _, states = _bar(capsys, share_s=0.05)  # 8 trials of 0.03 s; the clock has 0.05 s
    assert re.search(r"[1-7]/8 .*eta 00:00 \(clock\)", "\n".join(states)), states


def test_no_progress_prints_nothing(capsys):
    result, states = _bar(capsys, share_s=3600, progress=False)
    assert result.trials == 8 and states == []


# --- tune --json (one real job: XLA, the zoo's mlp, 2 trials) ---------------------------
def test_tune_json_is_the_job_report(tmp_path):
    db = tmp_path / "t.sqlite"
    r = run_cli("tune", "--backend", "xla", "--model", "mlp", "--trials", "2", "--json", "--db", str(db))
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)  # stdout is the JSON and nothing else
    assert report["ok"] and report["database"] == str(db) and report["job_id"] >= 1
    (m,) = report["models"]
    assert (m["name"], m["backend"], m["status"]) == ("mlp", "xla", "tuned")
    assert m["trials"] >= 2 and m["default_s"] > 0 and m["tuned_s"] > 0 and m["speedup"] > 0
    assert set(m["profile"]) >= {"total_s", "compile_s", "run_s"}
    assert all(set(g) == {"name", "trials", "saved_s"} for g in m["by_gain"])
    # The progress bar went to stderr: trials done of those left, and an ETA.
    assert re.search(r"mlp .*\d+/\d+ .*eta \d", r.stderr), r.stderr[-2000:]


def test_last_candidate_wording_says_which_way_the_ratio_goes():
    from autotune.cli.best import last_candidate

    def row(speedup: float, won: bool = False, kept: bool = False) -> dict:
        return {"last_confirmation": {"speedup": speedup, "won": won, "kept": kept}}

    assert last_candidate(row(0.95)) == "0.95x (1.05x slower): lost, default kept"
    assert last_candidate(row(0.02)) == "0.02x (50.0x slower): lost, default kept"
    assert last_candidate(row(1.3, won=True, kept=True)) == "1.30x: won, kept"
    assert last_candidate({"last_confirmation": None}) == "-"


@pytest.mark.parametrize("args", [["db", "stats"], ["db", "query", "SELECT * FROM measurements_named"]])
def test_a_reader_that_goes_away_stops_the_command_quietly(tmp_path, args):
    """`autotune db stats | head -1`: the pipe closes before everything is written; the
    command stops without an error line (it printed "autotune: error: Broken pipe", rc 2)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    db = make_db(tmp_path / "a.sqlite", "a")
    proc = subprocess.Popen(
        [sys.executable, "-m", "autotune.cli.main", *args, "--db", str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and err == "", err
