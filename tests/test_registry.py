"""The shared registry behind every extension point, and each point's use of it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autotune.registry import Registry


def test_register_get_create_and_errors():
    reg: Registry[type] = Registry("widget", {"lazy": "json"})  # a module that registers nothing

    @reg.register("plain")
    class Plain:
        def __init__(self, x: int = 0) -> None:
            self.x = x

    assert Plain.name == "plain"  # type: ignore[attr-defined]
    assert reg.kinds() == ["lazy", "plain"]
    assert reg.get("plain") is Plain and reg.create("plain", x=3).x == 3
    with pytest.raises(ValueError, match=r"^unknown widget 'nope'; known: lazy, plain$"):
        reg.get("nope")
    with pytest.raises(ValueError, match="unknown widget 'lazy'"):  # its module did not register it
        reg.get("lazy")
    bare: Registry[type] = Registry("thing", set_name=False)
    bare.register("a")(Plain)
    assert Plain.name == "plain"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "module, names",
    [
        ("autotune.backends.base", ["tvm", "xla"]),
        ("autotune.db.base", ["sqlite"]),
        ("autotune.search.base", ["evolutionary"]),
        ("autotune.search.graph", ["exhaustive", "random", "tpe"]),
        ("autotune.passes.base", ["xla-codegen", "xla-fusion", "xla-layout"]),
        ("autotune.costmodel.base", ["gnn", "random", "xgboost"]),
        ("autotune.costmodel.features.base", ["hlo", "tir"]),
    ],
)
def test_every_extension_point_lists_its_builtins_without_importing_them(module, names):
    """kinds() must not import an implementation (torch, TVM, JAX stay unloaded)."""
    code = (
        f"import sys, {module} as m; import autotune.db.sqlite; "
        "print(m.kinds()); print(sorted(k for k in ('torch', 'tvm', 'jax') if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    listed, heavy = out.strip().splitlines()
    assert all(n in listed for n in names), listed
    if module != "autotune.passes.base":  # passes.kinds() imports the passes to filter by backend
        assert heavy == "[]", heavy
