"""The contract every backend meets, run over `autotune.backends.names()` on real compilers.

A new backend registers itself in autotune/backends/base.py's REGISTRY and gets all of
these tests: targets resolve and describe themselves, models load and yield workloads with
stable fingerprints, candidates build and run in isolation (a config that does not apply
is a failed candidate, never an exception), comparisons check outputs, and the whole model
compiles with the database's best applied.
"""

from __future__ import annotations

import pytest

from autotune import backends
from autotune.db import open_db
from autotune.errors import UserError

pytestmark = pytest.mark.timeout(600)

#: Per backend: a target spec, a bundled model, and a config that cannot apply to it.
CASES = {
    "tvm": ("llvm", "mlp", {"trace": [[["NoSuchInstruction", [], [], []]], []]}),
    "xla": ("cpu", "mlp", {"opt:no_such_option": 1}),
}


@pytest.fixture(scope="module", params=backends.names())
def opened(request, tmp_path_factory):
    """(backend, session, model, workloads) of the bundled model, one session per backend."""
    name = request.param
    if name not in CASES:
        pytest.fail(f"backend {name!r} has no entry in CASES: give it a target, model and bad config")
    spec, model, _ = CASES[name]
    be = backends.get(name)
    db = open_db(tmp_path_factory.mktemp(name) / "t.sqlite")
    session = be.open(be.resolve_target(spec), db, None)
    loaded = session.load(model, be.load_model(model))
    yield be, session, loaded, session.workloads(loaded)
    session.close()
    db.close()


def test_registry_knows_its_backends():
    assert {"tvm", "xla"} <= set(backends.names())
    with pytest.raises(UserError, match="unknown backend 'onnx'"):
        backends.get("onnx")


@pytest.mark.parametrize("name", backends.names())
def test_targets_resolve_and_describe_this_machine(name):
    be = backends.get(name)
    info = be.describe(be.resolve_target(CASES[name][0]))
    assert info.compiler == name and info.compiler_version and info.device_model
    assert info.key == be.describe(be.resolve_target(CASES[name][0])).key  # stable
    with pytest.raises(UserError):
        be.resolve_target("no-such-target")
    with pytest.raises(UserError, match="no-such-model"):
        be.load_model("no-such-model")
    assert be.config_kind and be.searches and be.rank_pool >= 1 and be.confirm_rounds >= 1


def test_workloads_have_stable_fingerprints(opened):
    be, session, model, workloads = opened
    assert workloads and all(w.fingerprint and w.name and w.ir and w.weight >= 1 for w in workloads)
    again = session.workloads(session.load(CASES[be.name][1], be.load_model(CASES[be.name][1])))
    assert [w.fingerprint for w in again] == [w.fingerprint for w in workloads]


def test_the_default_measures_and_a_bad_config_fails_cleanly(opened):
    be, session, model, workloads = opened
    w = workloads[0]
    ok = session.measure(w, {})
    assert ok.status == "ok" and ok.samples and all(s > 0 for s in ok.samples)
    bad = session.measure(w, CASES[be.name][2])
    assert bad.status in ("build_error", "run_error") and bad.error and not bad.samples
    c = session.compare(w, {}, CASES[be.name][2], rounds=2)
    assert c.status != "ok" and c.error


def test_compare_times_interleaved_and_end_to_end_applies_the_database(opened):
    be, session, model, workloads = opened
    c = session.compare(workloads[0], {}, {}, rounds=3)
    assert c.status == "ok" and len(c.default) == len(c.tuned) == 3
    e2e = session.end_to_end(model, rounds=2)  # nothing tuned: the default everywhere, outputs equal
    assert e2e.status == "ok" and len(e2e.default) == len(e2e.tuned) == 2
    assert e2e.config in ({}, None)


def test_baselines_are_timed_interleaved_with_the_tuned_build(opened):
    """What users run instead of the tuned build ({} where that is the compiler's own default:
    XLA). The cheap ones here: a costly one (torch.compile) is tests/tvm/test_tune_cli.py's."""
    be, session, model, workloads = opened
    cheap = [n for n in be.baselines if n not in be.costly_baselines]
    assert set(be.costly_baselines) <= set(be.baselines)
    got = session.baselines(model, rounds=2, names=cheap)
    assert set(got) == set(cheap)
    for b in got.values():
        assert b.status == "ok" and b.version, b.error
        assert len(b.samples) == len(b.tuned) == 2 and min(b.samples + b.tuned) > 0
        assert b.speedup > 0
    assert session.baselines(model, rounds=2, names=["no-such-baseline"]) == {}
