"""Contract tests every cost model passes: learn a ranking, save/load, online update.

The candidates here are real PyG graphs of a synthetic workload family whose speed is a
known function of the graph (a chain whose nodes carry a 'work' feature; the latency is
the total work plus a config term in the graph features), so every assertion can fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from autotune.costmodel import base, metrics
from autotune.costmodel.dataset import Dataset

pytestmark = pytest.mark.timeout(300)

SIG = {"featurizer": "synthetic", "vocab_version": "syn-1", "node_dim": 4, "graph_dim": 3, "flat_dim": 7}


def _family(groups: int, per_group: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    data = Dataset()
    for grp in range(groups):
        n = int(rng.integers(3, 9))
        base_work = rng.uniform(0.5, 2.0, size=n)
        for _ in range(per_group):
            scale = rng.uniform(0.3, 1.5, size=n)  # a schedule makes each node cheaper or dearer
            knob = rng.integers(0, 3)  # a global config choice: 1 is fast, 2 is slow
            work = base_work * scale
            latency = float(work.sum() * (0.7 if knob == 1 else 1.3 if knob == 2 else 1.0))
            x = torch.tensor(np.stack([work, scale, base_work, np.arange(n) / n], 1), dtype=torch.float32)
            e = torch.tensor([list(range(n - 1)) + list(range(1, n)), list(range(1, n)) + list(range(n - 1))])
            g = torch.tensor([[knob == 1, knob == 2, n]], dtype=torch.float32)
            flat = torch.cat([x.sum(0, keepdim=True), g], dim=1)
            data.graphs.append(Data(x=x, edge_index=e, g=g, flat=flat))
            data.latency.append(latency)
            data.groups.append(grp)
        default = float(base_work.sum())
        data.relative += [lat / default for lat in data.latency[-per_group:]]
        data.names[grp] = f"syn{grp}"
    return data


@pytest.fixture(scope="module")
def split():
    return _family(24, 24, seed=0).split(0.25, seed=1)


@pytest.mark.parametrize("kind", ["gnn", "gnn-listwise", "ensemble", "xgboost"])
def test_learns_to_rank_unseen_workloads(kind, split):
    train, test = split
    hp = {"epochs": 30} if kind in ("gnn", "ensemble") else {}
    if kind == "gnn-listwise":
        kind, hp = "gnn", {"epochs": 30, "loss": "listwise"}
    model = base.create(kind, signature=SIG, seed=0, **hp)
    model.fit(train.graphs, train.relative, train.groups)
    scores = model.predict(test.graphs)
    assert scores.shape == (len(test),) and np.isfinite(scores).all()
    r = metrics.evaluate(scores, test.latency, test.groups)
    assert r["kendall_tau"] > 0.5, r
    assert r["top5"] > 0.9, r


def test_random_is_the_floor(split):
    _, test = split
    r = metrics.evaluate(base.create("random", seed=0).predict(test.graphs), test.latency, test.groups)
    assert abs(r["kendall_tau"]) < 0.2


@pytest.mark.parametrize("kind", base.kinds())
def test_save_load_roundtrip_and_signature_check(kind, split, tmp_path):
    train, test = split
    hp = {"epochs": 3} if kind == "gnn" else {"rounds": 20} if kind == "xgboost" else {}
    model = base.create(kind, signature=SIG, seed=0, **hp)
    model.fit(train.graphs, train.relative, train.groups)
    path = tmp_path / f"{kind}.pt"
    model.save(path)
    again = base.load(path, SIG)
    assert again.name == kind and again.signature == SIG
    if kind != "random":
        np.testing.assert_allclose(again.predict(test.graphs), model.predict(test.graphs), rtol=1e-5)
    with pytest.raises(base.CostModelError, match="retrain"):
        base.load(path, {**SIG, "vocab_version": "syn-2"})
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(base.CostModelError, match="not a cost-model checkpoint"):
        base.load(tmp_path / "junk.pt")
    with pytest.raises(base.CostModelError, match="no such"):
        base.load(tmp_path / "missing.pt")


@pytest.mark.parametrize("kind", base.kinds())
def test_online_update(kind, split):
    train, test = split
    hp = {"epochs": 4} if kind == "gnn" else {"rounds": 20} if kind == "xgboost" else {}
    model = base.create(kind, signature=SIG, seed=0, **hp)
    half = set(sorted(set(train.groups))[: len(set(train.groups)) // 2])
    first, second = train.subset(half), train.subset(set(train.groups) - half)
    model.update(first.graphs, first.relative, first.groups)  # untrained: a first fit
    model.update(second.graphs, second.relative, second.groups)  # then learns more
    assert np.isfinite(model.predict(test.graphs)).all()


@pytest.mark.parametrize("kind", ["gnn", "ensemble", "xgboost"])
def test_an_online_update_keeps_what_the_model_learned(kind, split):
    """A job's first batch (a few candidates of one workload) adds to the trained model: the
    ranking of unseen workloads stays what training gave it, not what 4 candidates teach."""
    train, test = split
    model = base.create(kind, signature=SIG, seed=0, **({"epochs": 30} if kind != "xgboost" else {}))
    model.fit(train.graphs, train.relative, train.groups)
    before = metrics.evaluate(model.predict(test.graphs), test.latency, test.groups)["kendall_tau"]
    batch = train.subset({train.groups[0]})
    idx = list(range(4))
    model.update([batch.graphs[i] for i in idx], [batch.relative[i] for i in idx], [0] * 4)
    after = metrics.evaluate(model.predict(test.graphs), test.latency, test.groups)["kendall_tau"]
    assert after > 0.5 and after > before - 0.1, (before, after)


def test_metrics():
    lat = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert metrics.kendall_tau([6, 5, 4, 3, 2, 1], lat) == pytest.approx(1.0)
    assert metrics.kendall_tau([1, 2, 3, 4, 5, 6], lat) == pytest.approx(-1.0)
    assert metrics.topk_score([0, 9, 8, 7, 6, 5], lat, 1) == pytest.approx(0.5)
    assert metrics.topk_score([0, 9, 8, 7, 6, 5], lat, 5) == pytest.approx(0.5)
    assert metrics.topk_score([9, 0, 0, 0, 0, 0], lat, 1) == 1.0
    r = metrics.evaluate([3, 2, 1, 1, 2, 3], [1, 2, 3, 1, 2, 3], [0, 0, 0, 1, 1, 1])
    assert (
        r["workloads"] == 2 and r["kendall_tau"] == pytest.approx(0.0) and r["top1"] == pytest.approx(2 / 3)
    )


def test_workload_kinds_name_both_backends_alike():
    from autotune.costmodel.dataset import workload_kind

    for name, kind in [
        ("fused_conv2d_add_relu", "conv2d"),
        ("conv2d4", "conv2d"),
        ("op-conv2d-1x3x64x64x16x5", "conv2d"),
        ("fused_matmul2_add1", "dense"),
        ("op-mlp2-8x128x512", "dense"),
        ("layer_norm", "layernorm"),
        ("fused_softmax_broadcast_to", "softmax"),
        ("op-attention-2x64x128x4", "attention"),
        ("max_pool2d", "pool"),
        ("op-pool-1x32x56x56x2", "pool"),
        ("sum", "reduce"),
        ("op-reduce-512x256", "reduce"),
    ]:
        assert workload_kind(name) == kind, name


def test_gnn_checkpoint_of_another_architecture_is_refused(split, tmp_path):
    import torch

    train, _ = split
    model = base.create("gnn", signature=SIG, seed=0, epochs=1)
    model.fit(train.graphs, train.relative, train.groups)
    path = tmp_path / "old.pt"
    model.save(path)
    ckpt = torch.load(path, weights_only=True)
    del ckpt["state"]["arch"]  # as written before the architecture was versioned
    torch.save(ckpt, path)
    why = r"old\.pt: GNN checkpoint of architecture 'gnn-1'.*retrain"
    with pytest.raises(base.CostModelError, match=why):
        base.load(path, SIG)


def test_gnn_with_the_hlo_readout_learns_and_roundtrips(split, tmp_path):
    """The product readout and flat branch (the HLO defaults) on the same synthetic family."""
    train, test = split
    model = base.create("gnn", signature=SIG, seed=0, epochs=30, flat=True, interact=True)
    model.fit(train.graphs, train.relative, train.groups)
    assert model.dims == [4, 3, 7] and len(model.nets) == 3
    r = metrics.evaluate(model.predict(test.graphs), test.latency, test.groups)
    assert r["kendall_tau"] > 0.5, r
    model.save(tmp_path / "m.pt")
    again = base.load(tmp_path / "m.pt", SIG)
    assert again.hp["flat"] and again.hp["interact"]
    np.testing.assert_allclose(again.predict(test.graphs), model.predict(test.graphs), rtol=1e-5)


@pytest.mark.parametrize("kind", ["gnn", "xgboost"])
def test_a_candidates_score_does_not_depend_on_the_others_in_the_call(kind, split):
    """A search ranks a few proposals at a time: scores must be comparable across calls."""
    train, test = split
    hp = {"epochs": 3} if kind == "gnn" else {"rounds": 20}
    model = base.create(kind, signature=SIG, seed=0, **hp)
    model.fit(train.graphs, train.relative, train.groups)
    full = model.predict(test.graphs)
    parts = np.concatenate([model.predict(test.graphs[i : i + 4]) for i in range(0, len(test.graphs), 4)])
    np.testing.assert_allclose(parts, full, rtol=1e-5, atol=1e-6)


def test_centred_gnn_scores_each_workload_against_its_own_candidates(tmp_path):
    """`center` (the HLO default): a listwise score, so it must learn, and a workload's scores
    must depend only on that workload's candidates in the call, in any order and batch size."""
    train, test = _family(24, 24, seed=0).split(0.25, seed=1)
    for data in (train, test):
        for graph, grp in zip(data.graphs, data.groups):
            graph.workload_key = grp
    model = base.create("gnn", signature=SIG, seed=0, epochs=30, center=True)
    model.fit(train.graphs, train.relative, train.groups)
    scores = model.predict(test.graphs)
    r = metrics.evaluate(scores, test.latency, test.groups)
    assert r["kendall_tau"] > 0.5, r
    for grp in sorted(set(test.groups)):
        idx = [i for i, g in enumerate(test.groups) if g == grp]
        alone = model.predict([test.graphs[i] for i in idx])
        np.testing.assert_allclose(alone, scores[idx], rtol=1e-4, atol=1e-5)
        backwards = model.predict([test.graphs[i] for i in reversed(idx)])
        np.testing.assert_allclose(backwards[::-1], alone, rtol=1e-4, atol=1e-5)
    many = test.graphs * 12  # > one batch of 256: workloads are never split across batches
    np.testing.assert_allclose(model.predict(many)[: len(scores)], scores, rtol=1e-4, atol=1e-5)
    model.save(tmp_path / "c.pt")
    assert base.load(tmp_path / "c.pt", SIG).hp["center"]


def test_the_gnns_losses_prefer_the_true_order_within_each_workload_only():
    from autotune.costmodel.gnn import GNNModel, listwise_loss, pairwise_loss

    targets = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.0, -1.0])
    groups = torch.tensor([0, 0, 0, 1, 1, 1])
    right, wrong = targets.clone(), -targets
    across = torch.tensor([3.0, 2.0, 1.0, 13.0, 12.0, 11.0])  # right within each, any order across
    for loss in (pairwise_loss, listwise_loss):
        assert float(loss(right, targets, groups)) < float(loss(wrong, targets, groups)), loss
        assert abs(float(loss(across + 5, targets, groups)) - float(loss(across, targets, groups))) < 1e-5
    single = torch.tensor([0, 1, 2, 3, 4, 5])  # no workload with two candidates: nothing to learn
    assert float(listwise_loss(right, targets, single)) == float(pairwise_loss(right, targets, single)) == 0.0
    with pytest.raises(ValueError, match="unknown GNN loss"):
        GNNModel(signature=SIG, loss="nope")


def test_a_listwise_gnn_checkpoint_keeps_its_loss(split, tmp_path):
    train, test = split
    model = base.create("gnn", signature=SIG, seed=0, epochs=2, loss="listwise")
    model.fit(train.graphs, train.relative, train.groups)
    model.save(tmp_path / "l.pt")
    again = base.load(tmp_path / "l.pt", SIG)
    assert again.hp["loss"] == "listwise"
    np.testing.assert_allclose(again.predict(test.graphs), model.predict(test.graphs), rtol=1e-5)


def test_an_ensemble_of_fitted_members_predicts_as_one_fitted_whole(split):
    """`EnsembleModel.of` (what leave-one-model-out uses to skip a third fit) is the same
    model as fitting the ensemble: the same members, the same mean of z-scores."""
    from autotune.costmodel.ensemble import EnsembleModel

    train, test = split
    members = {}
    for kind, hp in (("gnn", {"epochs": 3}), ("xgboost", {"rounds": 20})):
        members[kind] = base.create(kind, signature=SIG, seed=0, **hp)
        members[kind].fit(train.graphs, train.relative, train.groups)
    whole = base.create("ensemble", signature=SIG, seed=0, epochs=3)
    whole.members["xgboost"] = base.create("xgboost", signature=SIG, seed=0, rounds=20)
    whole.fit(train.graphs, train.relative, train.groups)
    made = EnsembleModel.of(members)
    assert np.allclose(made.predict(test.graphs), whole.predict(test.graphs), atol=1e-5)
    with pytest.raises(base.CostModelError, match="members"):
        EnsembleModel.of({"gnn": members["gnn"]})
