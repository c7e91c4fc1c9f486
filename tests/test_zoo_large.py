"""The zoo's models of real size, from Hugging Face transformers (the extra autotune[models]):
they build and run in PyTorch, and go through TVM's import, task extraction and default
build with PyTorch's results."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from autotune import zoo
from autotune.errors import UserError

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[1]
HAVE_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
needs_transformers = pytest.mark.skipif(
    not HAVE_TRANSFORMERS, reason="transformers is not installed: pip install 'autotune[models]'"
)

# name -> (input shape, output shape)
SHAPES = {
    "resnet18": ((1, 3, 224, 224), (1, 1000)),
    "mobilenet-v2": ((1, 3, 224, 224), (1, 1000)),
    "bert-base-layer": ((1, 128, 768), (1, 128, 768)),
    "gpt2-block": ((1, 128, 768), (1, 128, 768)),
}
MODELS = list(SHAPES)
# name -> (tasks, conv2d tasks, matmul tasks) that MetaSchedule extracts (TVM 0.27, llvm).
# Dense layers of equal shape share one task: BERT's q/k/v/o are one, GPT-2's four differ;
# both add two batched attention matmuls. Batch norms are decomposed and fused into the
# convolution before them (no batch-norm task of their own).
TASKS = {
    "resnet18": (19, 15, 1),
    "mobilenet-v2": (33, 30, 1),
    "bert-base-layer": (15, 0, 5),
    "gpt2-block": (18, 0, 6),
}
PARAMS = {  # torchvision's resnet18 and mobilenet_v2 have exactly these
    "resnet18": 11_689_512,
    "mobilenet-v2": 3_504_872,
    "bert-base-layer": 7_087_872,
    "gpt2-block": 7_087_872,
}


def _torch_output(model: zoo.ZooModel) -> np.ndarray:
    with torch.no_grad():
        out = model.module(*model.example_inputs)
    assert isinstance(out, torch.Tensor)
    return out.numpy()


def test_names_are_listed_but_not_in_the_nightly_job() -> None:
    assert set(MODELS) <= set(zoo.names())
    job = tomllib.loads((REPO / "examples" / "nightly.toml").read_text())
    assert not set(MODELS) & {m["name"] for m in job["models"]}


def test_zoo_and_cli_do_not_import_transformers() -> None:
    script = (
        "import sys; from autotune import zoo; from autotune.cli import main; zoo.names(); "
        "main.build_parser(); print('transformers' in sys.modules, 'torch' in sys.modules)"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", MODELS)
def test_without_transformers_is_a_one_line_user_error(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` fails
    with pytest.raises(
        UserError, match=r"needs Hugging Face transformers: pip install 'autotune\[models\]'$"
    ):
        zoo.create(name)

    from autotune.cli.main import main

    db = tmp_path / "t.sqlite"
    assert main(["tune", "--model", name, "--db", str(db), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("autotune: error: ") and err.count("\n") == 1
    assert "pip install 'autotune[models]'" in err


@needs_transformers
@pytest.mark.parametrize("name", MODELS)
def test_builds_and_runs_in_torch(name: str) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    m = zoo.create(name)
    assert torch.equal(torch.rand(3), expected)  # the caller's RNG is untouched
    assert m.name == name and m.description and not m.module.training
    (x,) = m.example_inputs
    in_shape, out_shape = SHAPES[name]
    assert tuple(x.shape) == in_shape and x.dtype == torch.float32
    assert sum(p.numel() for p in m.module.parameters()) == PARAMS[name]
    out = _torch_output(m)
    assert out.shape == out_shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.std() > 1e-2  # neither exploding nor vanishing

    again = zoo.create(name)  # the same seeded weights and inputs every time
    assert torch.equal(again.example_inputs[0], x)
    np.testing.assert_array_equal(_torch_output(again), out)


@needs_transformers
def test_gpt2_block_is_causal() -> None:
    m = zoo.create("gpt2-block")
    (x,) = m.example_inputs
    changed = x.clone()
    changed[:, -1] += 1.0
    with torch.no_grad():
        a, b = m.module(x), m.module(changed)
    torch.testing.assert_close(a[:, :-1], b[:, :-1])
    assert not torch.allclose(a[:, -1], b[:, -1])


@needs_transformers
@pytest.mark.parametrize("name", MODELS)
def test_tvm_import_tasks_and_default_build_match_torch(name: str) -> None:
    from tvm.s_tir.meta_schedule.relax_integration import extract_tasks

    from autotune.backends.tvm import importer
    from autotune.backends.tvm.workload import resolve_target

    m = zoo.create(name)
    target = resolve_target("llvm")
    start = time.perf_counter()
    mod = importer.to_relax(m.module, m.example_inputs)
    assert len(mod["main"].params) == 1

    tasks = extract_tasks(importer.fuse(mod, target), target)
    names = [t.task_name for t in tasks]
    assert len(set(names)) == len(names) and all(t.weight >= 1 for t in tasks)
    counts = (len(names), sum("conv2d" in n for n in names), sum("matmul" in n for n in names))
    assert counts == TASKS[name], names

    got = importer.run(importer.build_default(mod, target, fused=True), [x.numpy() for x in m.example_inputs])
    want = _torch_output(m)
    assert len(got) == 1 and got[0].shape == want.shape
    assert np.allclose(got[0], want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
    print(f"{name}: {counts[0]} tasks, import+extract+build+run {time.perf_counter() - start:.1f} s")
