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
