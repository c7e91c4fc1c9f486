"""The model zoo and the PyTorch -> Relax importer: real exports, real TVM builds."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import tvm
import tvm_ffi
from tvm import relax
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.relax_integration import compile_relax, extract_tasks

from autotune import zoo
from autotune.backends.tvm import importer

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[1]
MODELS = ["mlp", "convnet", "bert-tiny"]


@pytest.fixture(scope="module")
def target() -> tvm.target.Target:
    return tvm.target.Target({"kind": "llvm", "num-cores": 2})


@pytest.fixture(scope="module")
def imported() -> dict[str, tuple[zoo.ZooModel, tvm.IRModule]]:
    """Each zoo model with its bound Relax module, imported once per test module."""
    out = {}
    for name in MODELS:
        model = zoo.create(name)
        out[name] = (model, importer.to_relax(model.module, model.example_inputs))
    return out


def _np_inputs(model: zoo.ZooModel) -> list[np.ndarray]:
    return [x.numpy() for x in model.example_inputs]


def _torch_outputs(model: zoo.ZooModel) -> list[np.ndarray]:
    with torch.no_grad():
        out = model.module(*model.example_inputs)
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]


def test_names_are_listed() -> None:
    assert {"mlp", "convnet", "bert-tiny"} <= set(zoo.names())


@pytest.mark.parametrize("name", MODELS)
def test_import_takes_exactly_the_example_inputs(name: str, imported) -> None:
    model, mod = imported[name]
    params = mod["main"].params
    assert len(params) == len(model.example_inputs)
    for var, x in zip(params, model.example_inputs):
        # TVM 0.27 renamed Relax StructInfo to types: ``var.ty`` is a relax TensorType.
        assert [int(d) for d in var.ty.shape.values] == list(x.shape)
        assert str(var.ty.dtype) == str(x.dtype).removeprefix("torch.")
    assert not model.module.training


@pytest.mark.parametrize("name", MODELS)
def test_default_build_matches_torch(name: str, imported, target) -> None:
    model, mod = imported[name]
    got = importer.run(importer.build_default(mod, target), _np_inputs(model))
    want = _torch_outputs(model)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_extract_tasks(name: str, imported, target) -> None:
    _, mod = imported[name]
    tasks = extract_tasks(importer.fuse(mod, target), target)
    assert tasks
    names = [t.task_name for t in tasks]
    assert len(set(names)) == len(names)
    assert all(t.weight >= 1 for t in tasks)


def _probe_database(tasks, target) -> ms.database.MemoryDatabase:
    """A database holding, for every task, a trivial valid record (one annotation)."""
    db = ms.database.MemoryDatabase()
    for task in tasks:
        mod = task.dispatched[0]
        sch = tvm.s_tir.Schedule(mod)
        blocks = [b for b in re.findall(r'T\.sblock\("([^"]+)"\)', mod.script()) if b != "root"]
        sch.annotate(sch.get_sblock(blocks[0]), "autotune_probe", 1)
        workload = db.commit_workload(mod)
        args = ms.arg_info.ArgInfo.from_prim_func(mod["main"])
        db.commit_tuning_record(ms.database.TuningRecord(sch.trace, workload, [1e-3], target, args))
    return db


@pytest.mark.parametrize("name", MODELS)
def test_compile_relax_finds_every_extracted_task(name: str, imported, target) -> None:
    """The PrimFuncs compile_relax looks up are exactly the ones extract_tasks gave."""
    model, mod = imported[name]
    tasks = extract_tasks(importer.fuse(mod, target), target)
    db = _probe_database(tasks, target)
    with target, db, tvm.transform.PassContext(opt_level=3):
        applied = relax.transform.MetaScheduleApplyDatabase()(importer.fuse(mod, target))
    prims = [f for _, f in applied.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    assert len(prims) == len(tasks)
    assert all(f.attrs.get("tirx.is_scheduled", False) for f in prims)
    got = importer.run(compile_relax(db, mod, target, None), _np_inputs(model))
    np.testing.assert_allclose(got[0], _torch_outputs(model)[0], rtol=1e-4, atol=1e-4)


def test_fingerprint_is_stable_across_processes(imported) -> None:
    here = {name: str(tvm_ffi.structural_hash(imported[name][1])) for name in MODELS}
    script = textwrap.dedent(
        f"""
        import json, sys, tvm_ffi
        from autotune import zoo
        from autotune.backends.tvm import importer
        out = {{}}
        for name in {MODELS!r}:
            m = zoo.create(name)
            out[name] = str(tvm_ffi.structural_hash(importer.to_relax(m.module, m.example_inputs)))
        print(json.dumps(out))
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, env=env, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    there = json.loads(proc.stdout.strip().splitlines()[-1])
    assert there == here


def test_listing_names_does_not_import_torch() -> None:
    script = "import sys; from autotune import zoo; print(zoo.names()); print('torch' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split("\n")[1] == "False"


def test_create_is_deterministic_and_keeps_caller_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, b = zoo.create("mlp"), zoo.create("mlp")
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(a.module.fc1.weight, b.module.fc1.weight)
    assert torch.equal(a.example_inputs[0], b.example_inputs[0])


def test_unknown_model_raises() -> None:
    with pytest.raises(zoo.UnknownModelError, match="known models: .*mlp") as info:
        zoo.create("resnet-9000")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


USER_FILE = """
import torch


def tiny():
    \"\"\"A 4 -> 2 linear layer.\"\"\"
    torch.manual_seed(0)
    return torch.nn.Linear(4, 2), (torch.randn(3, 4),)


def wrong():
    return 42


NOT_CALLABLE = 1
"""


def test_user_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target) -> None:
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "user_models_for_test.py"
    path.write_text(USER_FILE)

    by_path = zoo.create(f"{path}:tiny")
    assert by_path.description == "A 4 -> 2 linear layer."
    monkeypatch.chdir(tmp_path)
    relative = zoo.create("models/user_models_for_test.py:tiny")
    monkeypatch.syspath_prepend(str(tmp_path / "models"))
    by_module = zoo.create("user_models_for_test:tiny")
    for m in (by_path, relative, by_module):
        assert isinstance(m.module, torch.nn.Linear) and not m.module.training
        assert torch.equal(m.module.weight, by_path.module.weight)

    mod = importer.to_relax(by_path.module, by_path.example_inputs)
    got = importer.run(importer.build_default(mod, target), _np_inputs(by_path))
    np.testing.assert_allclose(got[0], _torch_outputs(by_path)[0], rtol=1e-5, atol=1e-5)

    with pytest.raises(zoo.UnknownModelError, match="no module named"):
        zoo.create("no_such_module_xyz:tiny")
    with pytest.raises(zoo.UnknownModelError, match="no such file"):
        zoo.create("models/missing.py:tiny")
    with pytest.raises(zoo.UnknownModelError, match="has no 'nope'"):
        zoo.create("user_models_for_test:nope")
    with pytest.raises(zoo.UnknownModelError, match="not callable"):
        zoo.create("user_models_for_test:NOT_CALLABLE")
    with pytest.raises(ValueError, match=r"must return \(torch.nn.Module"):
        zoo.create("user_models_for_test:wrong")
