"""Every bundled model, tuned for a few trials, compiles with its records and matches PyTorch.

Each takes one to two minutes on 2 cores (slow: `pytest -m slow`); mlp, the smallest, is
tuned and checked the same way in the default run by tests/tvm/test_tune_cli.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import run_cli

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


@pytest.mark.parametrize("name, trials", [("convnet", 16), ("bert-tiny", 16)])
def test_tuned_model_matches_torch(tmp_path, name, trials):
    import torch

    import autotune.tvm
    from autotune import zoo
    from autotune.backends.tvm import importer
    from autotune.db import open_db

    db = tmp_path / "tuning.sqlite"
    r = run_cli("tune", "--model", name, "--trials", str(trials), "--db", str(db), "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    with open_db(db, readonly=True) as store:
        model = store.model(name)
        ((tid, _),) = store.targets()
        tuned = [
            w
            for w, _ in model["workloads"]
            if (b := store.best(w["id"], tid)) is not None and b.kind == "trace"
        ]
        assert tuned, "no subgraph got a tuned schedule"
        assert store.check() == []

    m = zoo.create(name)
    with torch.no_grad():
        want = m.module(*m.example_inputs).numpy()
    ex = autotune.tvm.compile(importer.to_relax(m.module, m.example_inputs), "llvm", db=str(db))
    got = importer.run(ex, [x.numpy() for x in m.example_inputs])[0]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
