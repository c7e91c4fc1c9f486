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


def test_the_gap_pass_gives_whole_batches_by_gap_and_the_odd_trials_to_the_largest():
    from autotune.tuning.budget import allot_by_gap

    assert allot_by_gap(40, [0.3, 0.0, 0.1], unit=16) == [24, 0, 16]
    assert allot_by_gap(6, [1.0, 2.0], unit=16) == [0, 6]  # under one batch: all to the largest
    out = allot_by_gap(100, [1.0, 1.0, 1.0, 1.0, 5.0], unit=16)
    assert sum(out) == 100 and out[4] == max(out) and all(n % 16 == 0 for n in out[:4])
    # No workload above its floor, or nothing left: nothing is given.
    assert allot_by_gap(64, [0.0, 0.0], unit=16) == [0, 0]
    assert allot_by_gap(0, [1.0, 2.0], unit=16) == [0, 0]
