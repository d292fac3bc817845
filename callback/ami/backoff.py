"""Capped exponential backoff with full jitter (hazard 4: panoramisk retries every 2 s, forever, in lockstep).

Delay for attempt n (0-based) is uniform in ``[0, min(cap, base * 2**n)]`` ("full jitter"): many workers that lost
the same Asterisk spread their reconnects instead of arriving together. ``reset()`` after a successful login.
"""

from __future__ import annotations

import random


class Backoff:
    """Stateful delay generator; ``attempts`` counts delays handed out since the last reset."""

    def __init__(self, *, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.attempts = 0
        self._rng = rng or random.Random()

    def ceiling(self, *, cap: float | None = None) -> float:
        """Upper bound of the next delay."""
        limit = self.cap if cap is None else min(cap, self.cap)
        # The exponent is clamped so a long outage never overflows a float.
        return min(limit, self.base * 2.0 ** min(self.attempts, 62))

    def next_delay(self, *, cap: float | None = None) -> float:
        """Draw the next delay; ``cap`` lowers the ceiling for this draw only (cheap retries, see AmiClient)."""
        delay = self._rng.uniform(0.0, self.ceiling(cap=cap))
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0
