"""The shape of the package, enforced: layering and cycles (import-linter), SQL only in the
database package, compiler names tested only in backends/, every package shipped, and
docs that never point outside the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

PKG = ROOT / "autotune"


def _sources(exclude: tuple[str, ...] = ()) -> list[Path]:
    return [
        p for p in sorted(PKG.rglob("*.py")) if not any(part in exclude for part in p.relative_to(PKG).parts)
    ]


def test_import_layers_and_no_cycles():
    """pyproject.toml's [tool.importlinter] contracts: the layer order and acyclic siblings."""
    tool = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(tool).exists():
        pytest.fail("import-linter is not installed: install the test extra (pip install -e '.[test]')")
    r = subprocess.run([tool], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:]
    assert "2 kept, 0 broken" in r.stdout


SQL = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)", re.I)


def test_sql_lives_in_the_database_package_only():
    offenders = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in _sources(exclude=("db",))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if SQL.search(line) or ".conn." in line or "execute(" in line
    ]
    assert offenders == []


COMPILER_TEST = re.compile(r"""(==|!=|\bin)\s*\(?\s*["'](tvm|xla)["']|["'](tvm|xla)["']\s*(==|!=|in\b)""")


def test_no_compiler_name_tests_outside_backends():
    """A third backend needs no change to the driver or the CLI: nothing outside backends/
    (and the zoo, whose models are per compiler) branches on a compiler's name."""
    offenders = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in _sources(exclude=("backends", "zoo"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if COMPILER_TEST.search(line)
    ]
    assert offenders == []


def test_every_package_ships_and_the_schema_with_it():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in PKG.rglob("__init__.py")}
    listed = set(cfg["packages"])
    assert on_disk | {"autotune.db.migrations"} == listed
    assert cfg["package-dir"] == {"autotune.db.migrations": "db/migrations"}
    assert sorted(p.name for p in (ROOT / "db" / "migrations").glob("*.sql"))[0] == "0001_initial.sql"
    from autotune.db.schema import migrations

    assert [n for n, _ in migrations()][0] == 1  # found through the installed package


def test_docs_stay_inside_the_repository():
    for name in ("README.md", "pyproject.toml", "docs/architecture.md"):
        text = (ROOT / name).read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, name
