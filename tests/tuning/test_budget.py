"""The job driver's time shares: a model early in a job cannot starve the ones after it."""

from __future__ import annotations

import pytest

from autotune.tuning.budget import model_deadline


def test_each_model_gets_its_share_of_the_time_left():
    # 300 s left, this model has 32 of the 128 trials still to run: a quarter of it.
    assert model_deadline(1300.0, 32, 96, now=1000.0) == pytest.approx(1075.0)
    # The last model gets everything that is left, including what others did not use.
    assert model_deadline(1300.0, 32, 0, now=1100.0) == pytest.approx(1300.0)
    # Past the deadline there is nothing left.
    assert model_deadline(1300.0, 32, 32, now=1400.0) == pytest.approx(1400.0)


@pytest.mark.parametrize("budget, shares", [(64, [1.0, 3.0, 0.0]), (5, [1.0] * 12), (0, [2.0, 1.0])])
def test_allot_spends_exactly_the_budget(budget, shares):
    from autotune.tuning.budget import allot

    out = allot(budget, shares)
    assert sum(out) == budget and all(n >= 0 for n in out)


def test_expected_gain_diminishes_with_rounds_rewards_a_slope_and_stops_at_the_floor():
    from autotune.tuning.budget import ALPHA, expected_gain

    inf = float("inf")
    # One round of 16 at 4 ms (default 9 ms), weight 2: the forward estimate is the best itself.
    one = [9e-3] + [4e-3] * 16
    assert expected_gain(one, 2, 16) == pytest.approx(2 * (1 - ALPHA) * 4e-3)
    # The same best after four rounds, none of them improving it: a quarter as much.
    flat = [9e-3] + [4e-3] * 64
    assert expected_gain(flat, 2, 16) == pytest.approx(2 * (1 - ALPHA) * 1e-3)
    # Four rounds that kept improving (8 ms -> 4 ms over the last three) gain more than flat ones.
    falling = [9e-3] + [8e-3] * 16 + [6e-3] * 16 + [5e-3] * 16 + [4e-3] * 16
    assert expected_gain(falling, 2, 16) == pytest.approx(2 * (ALPHA * 4e-3 / 3 + (1 - ALPHA) * 1e-3))
    # Never more than the best is above its roofline; nothing at all once it is there.
    assert expected_gain(one, 2, 16, floor_s=3.5e-3) == pytest.approx(2 * (1 - ALPHA) * 0.5e-3)
    assert expected_gain(one, 2, 16, floor_s=4e-3) == 0.0
    # Failures are trials spent that found nothing: the default stays the best.
    failed = [9e-3] + [inf] * 32
    assert expected_gain(failed, 1, 16) == pytest.approx((1 - ALPHA) * 9e-3 / 2)


def test_a_graph_configs_new_subgraphs_get_what_the_ones_they_replace_were_given():
    from autotune.backends.base import Workload
    from autotune.tuning.budget import MIN_TRIALS_PER_WORKLOAD
    from autotune.tuning.joint import new_subgraph_trials
    from autotune.tuning.plan import ModelPlan, WorkloadState

    def state(fp, trials=0, default_s=1e-3, fixed=False):
        s = WorkloadState(Workload(fp, fp, "", {}, 1, None), 0, [], default_s=default_s, trials=trials)
        s.fixed = fixed
        return s

    plan = ModelPlan("m", "m", None, 0, budget=96)
    plan.workloads = [state("a", 60), state("b", 24), state("c", 12), state("d", 3, fixed=True)]
    # The config replaces a (60 trials) by two kernels, one three times slower than the other.
    new = [state("a1", default_s=3e-3), state("a2", default_s=1e-3)]
    assert new_subgraph_trials(plan, {"a1", "a2", "b", "c", "d"}, new) == [
        41,
        19,
    ]  # a floor each, 44 by share
    # A tiny share still gets the floor.
    new = [state("a1", default_s=1e-3), state("a2", default_s=1e-6)]
    assert new_subgraph_trials(plan, {"a1", "a2", "b", "c", "d"}, new)[1] == MIN_TRIALS_PER_WORKLOAD
    # Nothing of the model's own replaced (a kernel added): the mean of the open ones.
    assert new_subgraph_trials(plan, {"a", "b", "c", "d", "x"}, [state("x")]) == [32]
    assert new_subgraph_trials(plan, set(), []) == []
