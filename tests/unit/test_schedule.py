"""Arrival schedules: counts, spacing, ramps and Poisson gaps."""

import numpy as np
import pytest

from pspread.errors import ScenarioError
from pspread.load.schedule import ArrivalSchedule, expected_arrivals, rate_at


def test_constant_rate_is_evenly_spaced() -> None:
    t = ArrivalSchedule.constant(100, 2.0).intended_times()
    assert len(t) == 200
    assert t[0] == 0.0
    np.testing.assert_allclose(np.diff(t), 0.01)


def test_ramp_follows_the_rate_curve() -> None:
    sched = ArrivalSchedule.ramping([(10, 100), (10, 100), (5, 0)])
    t = sched.intended_times()
    assert len(t) == pytest.approx(sched.expected_arrivals(), abs=1)
    counts = np.histogram(t, bins=25, range=(0, 25))[0]
    # linear ramp up: second k holds ~10k + 5 arrivals; plateau: 100 a second; ramp down mirrors
    assert counts[0] == 5 and counts[9] == 95
    assert (counts[10:20] == 100).all()
    assert counts[-1] == 10
    assert np.all(np.diff(t) >= 0)


def test_ramp_from_a_start_rate() -> None:
    sched = ArrivalSchedule.ramping([(4, 200)], start_rate=100)
    assert sched.expected_arrivals() == pytest.approx(600)
    assert sched.rate_at(2.0) == pytest.approx(150)
    t = sched.intended_times()
    assert np.histogram(t, bins=4, range=(0, 4))[0].tolist() == [113, 137, 163, 187]


def test_poisson_mean_rate_and_determinism() -> None:
    a = ArrivalSchedule.constant(1000, 10, poisson=True, seed=7).intended_times()
    b = ArrivalSchedule.constant(1000, 10, poisson=True, seed=7).intended_times()
    c = ArrivalSchedule.constant(1000, 10, poisson=True, seed=8).intended_times()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[:100], c[:100])
    assert abs(len(a) - 10_000) < 500
    gaps = np.diff(a)
    assert gaps.mean() == pytest.approx(1e-3, rel=0.05)
    assert gaps.std() == pytest.approx(1e-3, rel=0.1)  # exponential: std == mean
    assert a.max() <= 10.0


@pytest.mark.parametrize("stages", [[(0, 10)], [(5, -1)], []])
def test_bad_stages_are_refused(stages: list) -> None:
    with pytest.raises(ScenarioError):
        ArrivalSchedule.ramping(stages)


def test_a_rate_curve_has_one_integral() -> None:
    segments = [(10.0, 0.0, 100.0), (5.0, 100.0, 100.0), (2.0, 40.0, 0.0)]  # a jump down at t = 15 s
    assert expected_arrivals(segments) == pytest.approx(500 + 500 + 40)
    assert rate_at(segments, 5.0) == pytest.approx(50.0) and rate_at(segments, 15.5) == pytest.approx(30.0)
    assert rate_at(segments, 17.0) == 0.0 and rate_at(segments, -1.0) == 0.0
    sched = ArrivalSchedule.ramping([(10.0, 100.0), (5.0, 100.0)])
    assert sched.segments() == [(10.0, 0.0, 100.0), (5.0, 100.0, 100.0)]
    assert len(sched.intended_times()) == round(expected_arrivals(sched.segments())) == 1000
    assert ArrivalSchedule.from_segments(sched.segments()) == sched
    with pytest.raises(ScenarioError, match="cannot jump"):
        ArrivalSchedule.from_segments(segments)
