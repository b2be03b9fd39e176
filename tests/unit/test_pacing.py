"""The HTTP clients' shared pacing (aircast.pacing), on a fake clock."""

from __future__ import annotations

from aircast.pacing import Pacer, backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_budget_holds_in_any_window_and_waits_are_reported() -> None:
    clock, waited = FakeClock(), []
    pacer = Pacer(2, 60.0, sleep=clock.sleep, clock=clock, on_wait=waited.append)
    pacer.before_request()
    clock.now += 10
    pacer.before_request()
    assert clock.slept == []
    pacer.before_request()  # third in the window: waits until the first is 60 s old
    assert clock.slept == [50.0]
    assert waited == [50.0]
    assert clock.now == 160.0
    pacer.before_request()  # the second (at 110) must age out too
    assert clock.slept == [50.0, 10.0]


def test_a_pause_delays_the_next_request_and_never_shortens() -> None:
    clock = FakeClock()
    pacer = Pacer(100, 60.0, sleep=clock.sleep, clock=clock)
    pacer.pause(30.0)
    pacer.pause(5.0)  # a shorter pause does not cut the longer one
    pacer.before_request()
    assert clock.slept == [30.0]
    pacer.before_request()
    assert clock.slept == [30.0]


def test_backoff_is_full_jitter_within_the_doubling_cap() -> None:
    draws = [backoff(0.5, 3) for _ in range(200)]
    assert all(0.0 <= d <= 4.0 for d in draws)
    assert max(draws) > 2.0  # not stuck at the lower half of the range
