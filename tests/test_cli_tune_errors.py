"""`autotune tune` and `autotune best` on bad input: one clear line, non-zero exit, no file touched."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from autotune.errors import UserError
from autotune.tuning.jobfile import load_job
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.timeout(300)


def _one_line_error(r) -> None:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unknown_model_creates_no_database(tmp_path):
    db = tmp_path / "t.sqlite"
    r = run_cli("tune", "--model", "no-such-model", "--db", str(db))
    _one_line_error(r)
    assert "no-such-model" in r.stderr
    assert not db.exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--backend", "xla", "--model", "resnet-9000"], "unknown xla model"),
        (["--backend", "xla", "--model", "mlp", "--target", "tpu"], "unknown XLA target"),
        (["--backend", "onnx", "--model", "mlp"], "invalid choice"),
    ],
)
def test_xla_bad_input_creates_no_database(tmp_path, args, needle):
    db = tmp_path / "t.sqlite"
    r = run_cli("tune", *args, "--db", str(db))
    assert r.returncode != 0 and "Traceback" not in r.stderr and needle in r.stderr
    assert not db.exists()


def test_unknown_target(tmp_path):
    r = run_cli("tune", "--model", "mlp", "--target", "no-such-target", "--db", str(tmp_path / "t.sqlite"))
    _one_line_error(r)
    assert "target" in r.stderr


@pytest.mark.parametrize(
    "content", [b"this is not a database at all", b"SQLite format 3\x00" + b"\xff" * 2000]
)
def test_corrupt_database_is_refused_and_untouched(tmp_path, content):
    db = tmp_path / "bad.sqlite"
    db.write_bytes(content)
    before = _digest(db)
    for args in (["tune", "--model", "mlp", "--trials", "2"], ["best", "mlp"]):
        r = run_cli(*args, "--db", str(db))
        _one_line_error(r)
    assert _digest(db) == before


def test_newer_schema_is_refused_and_untouched(tmp_path):
    from autotune.db import open_db

    db = tmp_path / "new.sqlite"
    open_db(db).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = _digest(db)
    r = run_cli("tune", "--model", "mlp", "--trials", "2", "--db", str(db))
    _one_line_error(r)
    assert "newer" in r.stderr
    assert _digest(db) == before


@pytest.mark.parametrize(
    "text, message",
    [
        ("[job\ntrials = 3", "malformed TOML"),
        ("[job]\ntrials = 3\n", "no [[models]]"),
        ("[job]\ntrials = -1\n[[models]]\nname = 'mlp'\n", "positive integer"),
        ("[job]\ntrails = 3\n[[models]]\nname = 'mlp'\n", "unknown [job] key"),
        ("[[models]]\nname = 'mlp'\ncolour = 'red'\n", "unknown key"),
        ("[[models]]\nname = 'mlp'\n[[models]]\nname = 'mlp'\n", "listed twice"),
        ("[job]\nbackend = 'gcc'\n[[models]]\nname = 'mlp'\n", "unknown backend"),
        # Every key is validated for every backend of the job, before it starts.
        ("[job]\nsearch = 'annealing'\n[[models]]\nname = 'mlp'\n", "unknown strategy 'annealing'"),
        ("[job]\nsearch = 'tpe'\n[[models]]\nname = 'mlp'\n", "cannot tune tvm models"),
        ("[job]\nsearch = 'evolutionary'\n[[models]]\nname = 'mlp'\nbackend = 'xla'\n", "cannot tune xla"),
        ("[job]\nrank_pool = 0\n[[models]]\nname = 'mlp'\n", "rank_pool: expected a positive integer"),
        ("[job]\ncost_model = 'xgb'\n[[models]]\nname = 'mlp'\n", "no such checkpoint"),
        ("[job]\ncost_model = 3\n[[models]]\nname = 'mlp'\n", "cost_model must be"),
        ("[job]\nbaselines = 'torch'\n[[models]]\nname = 'mlp'\n", "baselines must be a list"),
        ("[job]\nbaselines = ['tf']\n[[models]]\nname = 'mlp'\n", "unknown baseline 'tf'"),
        ("[job]\nbaselines = ['torch']\n[[models]]\nname = 'mlp'\nbackend = 'xla'\n", "known: none"),
        ("[job]\nfirst_pass = 1.5\n[[models]]\nname = 'mlp'\n", "first_pass: expected a number above 0"),
        ("[job]\nfirst_pass = 0\n[[models]]\nname = 'mlp'\n", "first_pass: expected a number above 0"),
        ("[job]\ngraph_trials = -1\n[[models]]\nname = 'mlp'\n", "graph_trials: expected a whole number"),
        ("[job]\ngraph_trials = 2.5\n[[models]]\nname = 'mlp'\n", "graph_trials: expected a whole number"),
        ("[job]\nlevels = []\n[[models]]\nname = 'mlp'\n", "levels: expected a list of levels"),
        ("[job]\nlevels = ['kernel']\n[[models]]\nname = 'mlp'\n", "levels: expected a list of levels"),
        ("[job]\nlevels = 3\n[[models]]\nname = 'mlp'\n", "levels: expected a list of levels"),
    ],
)
def test_malformed_job_files(tmp_path, text, message):
    path = tmp_path / "job.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_job(path)


def test_job_keys_mean_the_same_for_every_backend(tmp_path):
    """'auto' is each backend's default search; rank_pool reaches both searches."""
    from autotune import backends
    from autotune.tuning.plan import Context, Settings

    path = tmp_path / "job.toml"
    path.write_text(
        "[job]\nrank_pool = 6\n[[models]]\nname = 'mlp'\n[[models]]\nname = 'mlp'\nbackend = 'xla'\n"
    )
    spec = load_job(path)
    assert spec.search == "auto" and spec.rank_pool == 6 and spec.cost_model == "pretrained"
    for name, kind in (("tvm", "evolutionary"), ("xla", "auto")):
        ctx = Context(backends.get(name), None, None, Settings(search=spec.search, rank_pool=6), None)
        assert ctx.search_kind == kind and ctx.rank_pool == 6
        assert (
            Context(backends.get(name), None, None, Settings(), None).rank_pool
            == backends.get(name).rank_pool
        )


def test_baselines_key(tmp_path):
    """Default: every baseline of each backend; a list picks; [] times none."""
    path = tmp_path / "job.toml"
    for text, want in (("", None), ("baselines = []\n", []), ("baselines = ['torch', 'torch']\n", ["torch"])):
        path.write_text(f"[job]\n{text}[[models]]\nname = 'mlp'\n[[models]]\nname = 'mlp'\nbackend = 'xla'\n")
        assert load_job(path).baselines == want


def test_levels_key_and_option(tmp_path):
    """Both levels by default, in a fixed order; --levels overrides the file, checked the same."""
    path = tmp_path / "job.toml"
    path.write_text("[job]\nlevels = ['subgraph', 'graph']\n[[models]]\nname = 'mlp'\n")
    assert load_job(path).levels == ["graph", "subgraph"]
    path.write_text("[[models]]\nname = 'mlp'\n")
    assert load_job(path).levels == ["graph", "subgraph"]
    r = run_cli("tune", str(path), "--levels", "graph,tiles")
    _one_line_error(r)
    assert "--levels: expected a list of levels" in r.stderr


def test_malformed_job_file_on_the_command_line(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text("[job\n")
    r = run_cli("tune", str(path))
    _one_line_error(r)
    r = run_cli("tune", str(tmp_path / "missing.toml"))
    _one_line_error(r)
    assert "no such job file" in r.stderr


def test_bundled_job_file_is_valid():
    spec = load_job(ROOT / "examples" / "nightly.toml")
    assert [(m.name, m.backend) for m in spec.models] == [
        ("mlp", "tvm"),
        ("convnet", "tvm"),
        ("bert-tiny", "tvm"),
        ("mlp", "xla"),
        ("gpt-block", "xla"),
        ("convnet", "xla"),
    ]
    assert spec.time_budget_s <= 600
