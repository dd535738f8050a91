"""``ScriptedExecutor``: the real admission rules around scripted work, in both of its modes."""

from __future__ import annotations

import numpy as np
import pytest
from timing import FakeClock

from pspread import Outcome, Query
from pspread.errors import ExecutorError, PspreadError
from pspread.execution.scripted import ScriptedExecutor, Step


def _ids(q: int) -> np.ndarray:
    return np.arange(q).reshape(q, 1)


def test_queries_take_their_scripted_time_one_after_another() -> None:
    clock = FakeClock(50.0)
    steps = [Step(0.010), Step(0.020, "invalid", "bad seed"), Step(0.005, "timed_out")]
    with ScriptedExecutor(steps, clock=clock.now, sleep=clock.sleep) as ex:
        a = ex.map_batch(_ids(6))
        st = ex.stats()
    assert a.counts() == {"ok": 2, "invalid": 2, "timed_out": 2}
    assert a.errors[1] == "bad seed" and "timeout_s" in a.errors[2]
    np.testing.assert_allclose(a.finished_at - a.started_at, [0.010, 0.020, 0.005] * 2)
    np.testing.assert_allclose(a.completed_at - 50.0, np.cumsum([0.010, 0.020, 0.005] * 2))
    assert (a.submitted_at == 50.0).all()  # one batch, admitted at once
    assert st.submitted == 6 == sum(st.outcomes.values()) and st.completed == 4  # ok + invalid were answered
    assert st.workers[0].queries == 6 and st.workers[0].errors == 2
    assert st.workers[0].busy_s == pytest.approx(0.070)


def test_a_deadline_passed_while_running_or_waiting_is_timed_out() -> None:
    clock = FakeClock(50.0)
    with ScriptedExecutor(Step(0.5), clock=clock.now, sleep=clock.sleep) as ex:
        a = ex.map_batch(_ids(3), timeout_s=0.2)
    assert a.counts() == {"timed_out": 3}
    assert clock.slept == [0.5]  # the first ran past its deadline; the others never started
    assert all("timeout_s=0.2" in a.errors[i] for i in range(3))
    assert np.isnan(a.started_at[1:]).all()


def test_past_the_window_queries_are_overloaded_at_once() -> None:
    clock = FakeClock(50.0)
    with ScriptedExecutor(Step(0.001), max_in_flight=2, queue_size=1, clock=clock.now, sleep=clock.sleep) as ex:
        batch = ex.submit_batch(_ids(5))
        st = ex.stats()
    assert [int(x) for x in batch.answers.outcome] == [0, 0, 0, 2, 2]  # 3 fit, 2 overloaded
    assert "max_in_flight=2 + queue_size=1" in batch.answers.errors[3]
    assert st.outcomes == {"ok": 3, "overloaded": 2}


def test_a_lost_worker_is_retried_once_then_lost() -> None:
    clock = FakeClock(50.0)
    called: list[int] = []

    def step(i: int) -> Step:  # query 0 loses its worker every time, query 1 only the first time
        called.append(i)
        return [Step(0.001, "worker_lost"), Step(0.001, "worker_lost", retry=Step(0.002)), Step(0.001)][i]

    with ScriptedExecutor(step, clock=clock.now, sleep=clock.sleep) as ex:
        a = ex.map_batch(_ids(3))
        st = ex.stats()
    assert called == [0, 1, 2]  # once per query, as admitted
    assert a.counts() == {"worker_lost": 1, "ok": 2} and int(a.outcome[0]) == 4
    assert a.finished_at[1] - a.started_at[1] == pytest.approx(0.002)  # the retry's own step
    assert a.attempts.tolist() == [2, 2, 1]
    assert st.workers[0].restarts == 3 and st.outcomes == {"worker_lost": 1, "ok": 2}


def test_a_raising_step_refuses_the_whole_batch_before_admission() -> None:
    failure = ExecutorError("the cluster went away")
    with ScriptedExecutor([Step(), Step(raises=failure)]) as ex:
        with pytest.raises(ExecutorError, match="went away"):
            ex.submit_batch(_ids(2))
        assert ex.stats().submitted == 0
        assert ex.submit(Query(seeds=[1])).result(timeout=5).ok  # query number 0 again: a plain step


def test_only_the_outcomes_a_worker_gives_can_be_scripted() -> None:
    with pytest.raises(PspreadError, match="admission decides"):
        Step(outcome="overloaded")
    with pytest.raises(PspreadError, match="latency_s"):
        Step(-1.0)
    with pytest.raises(PspreadError, match="script"):
        ScriptedExecutor([])


def test_background_servers_have_an_exact_capacity() -> None:
    with ScriptedExecutor(Step(0.002), workers=2, background=True) as ex:
        a = ex.map_batch(_ids(40), wait_s=30)
        st = ex.stats()
    assert a.counts() == {"ok": 40}
    np.testing.assert_allclose(a.finished_at - a.started_at, 0.002)
    # completion times are computed from the admission: two servers, 2 ms each, back to back
    t0 = float(a.submitted_at.min())
    np.testing.assert_allclose(np.sort(a.finished_at - t0), np.repeat(np.arange(1, 21) * 0.002, 2), atol=1e-9)
    assert [w.queries for w in st.workers] == [20, 20]
    assert (a.completed_at >= a.finished_at).all()


def test_background_timeouts_overload_and_close() -> None:
    ex = ScriptedExecutor(Step(0.3), background=True, max_in_flight=1, queue_size=2)
    slow = ex.submit(Query(seeds=[1], timeout_s=0.05))
    queued = [ex.submit(Query(seeds=[i])) for i in range(2)]
    refused = ex.submit(Query(seeds=[3]))
    assert refused.done() and refused.result().outcome is Outcome.OVERLOADED
    assert slow.result(timeout=10).outcome is Outcome.TIMED_OUT
    ex.close()
    outcomes = [f.result(timeout=10).outcome for f in queued]
    assert Outcome.CANCELLED in outcomes and set(outcomes) <= {Outcome.OK, Outcome.CANCELLED}
    st = ex.stats()
    assert st.submitted == 4 == sum(st.outcomes.values())
    with pytest.raises(ExecutorError, match="closed"):
        ex.submit(Query(seeds=[1]))
