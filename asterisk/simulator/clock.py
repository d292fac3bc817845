"""Simulated time: Asterisk's scheduler and its threads' sleeps, on the asyncio loop clock.

Everything in the PBX happens at a *virtual* time, in seconds since the simulator started. Virtual time
advances only as fast as the loop clock allows (``virtual = elapsed_loop_time / time_scale``), so with
``time_scale=0.01`` a 10 s ring lasts 0.1 s of real time. Timers fire in virtual-time order and each one
sees ``now`` equal to its own due time however late the loop runs it, so the order of events never
depends on how busy the machine is.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timer:
    when: float
    seq: int
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    def __init__(self, time_scale: float = 1.0, manual: bool = False) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale
        self.manual = manual
        self.now = 0.0
        self._loop_start: float | None = None
        # Wall clock at virtual 0: Uniqueids, CDR times and EventTV are this plus virtual time.
        self.wall_start = time.time()
        # (when, seq, timer): plain tuples compare much faster than dataclass instances in heap operations
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._wakeup: asyncio.Event | None = None
        self.step: Callable[[Callable[[], None]], None] = lambda fn: fn()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop_start = loop.time()
        self._wakeup = asyncio.Event()

    def wall(self, virtual: float | None = None) -> float:
        return self.wall_start + (self.now if virtual is None else virtual)

    def virtual_now(self) -> float:
        """Where virtual time stands according to the loop clock (never behind ``now``)."""
        if self._loop_start is None or self.manual:
            return self.now
        elapsed = asyncio.get_running_loop().time() - self._loop_start
        return max(self.now, elapsed / self.time_scale)

    def real_delay(self, virtual_seconds: float) -> float:
        return virtual_seconds * self.time_scale

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(max(when, self.now), next(self._seq), callback)
        heapq.heappush(self._heap, (timer.when, timer.seq, timer))
        if self._wakeup is not None and self._heap[0][2] is timer:
            self._wakeup.set()  # run() waits for the earliest timer: only a new earliest one changes that
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.now + delay, callback)

    def clear(self) -> None:
        for _, _, timer in self._heap:
            timer.cancel()
        self._heap.clear()

    def catch_up(self) -> None:
        """Run every timer already due, then move ``now`` up to the loop clock (before handling input)."""
        target = self.virtual_now()
        self._run_until(target)
        self.now = max(self.now, target)

    def advance_to(self, target: float) -> None:
        """Manual clocks: run every timer due by ``target`` and move ``now`` there."""
        self._run_until(target)
        self.now = max(self.now, target)

    def _run_until(self, target: float) -> None:
        while self._heap and self._heap[0][0] <= target:
            _, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self.now = max(self.now, timer.when)
            self.step(timer.callback)

    async def run(self) -> None:
        """Fire timers as the loop clock reaches them; runs until cancelled."""
        assert self._wakeup is not None and self._loop_start is not None
        loop = asyncio.get_running_loop()
        if self.manual:
            await asyncio.Event().wait()  # timers run from advance_to()
        while True:
            while self._heap and self._heap[0][2].cancelled:
                heapq.heappop(self._heap)
            if not self._heap:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            due = self._loop_start + self._heap[0][0] * self.time_scale
            delay = due - loop.time()
            if delay > 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
                except TimeoutError:
                    pass
                continue
            self._run_until(self._heap[0][0])
            await asyncio.sleep(0)  # let sockets breathe when the simulation runs behind
