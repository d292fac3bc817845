"""Reconnect backoff (hazard 4: panoramisk retried every 2 s in lockstep): grows, capped, jittered, resets."""

from __future__ import annotations

import random

from callback.ami import Backoff


def test_ceiling_doubles_from_base_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(1))
    ceilings = []
    for _ in range(9):
        ceilings.append(backoff.ceiling())
        backoff.next_delay()
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_every_delay_lies_within_its_ceiling_and_never_overflows() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(2))
    for _ in range(2000):
        ceiling = backoff.ceiling()
        assert 0.0 <= backoff.next_delay() <= ceiling <= 30.0


def test_delays_are_fully_jittered() -> None:
    # given many draws at the cap
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(3))
    for _ in range(10):
        backoff.next_delay()

    # when
    delays = [backoff.next_delay() for _ in range(300)]

    # then they spread over [0, cap]: no lockstep between workers
    assert min(delays) < 3.0
    assert max(delays) > 27.0
    assert len({round(delay, 6) for delay in delays}) == 300


def test_reset_starts_again_from_the_base() -> None:
    backoff = Backoff(base=0.5, cap=30.0)
    for _ in range(7):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.ceiling() == 0.5


def test_a_lower_cap_applies_to_one_draw_only() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(4))
    for _ in range(8):
        backoff.next_delay()
    assert backoff.ceiling(cap=2.0) == 2.0
    assert backoff.next_delay(cap=2.0) <= 2.0
    assert backoff.ceiling() == 30.0
