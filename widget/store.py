"""The widget's shared, atomic state: sliding-window counters, one-time captchas, strikes.

Every check-and-count is one Lua script run by Redis, so concurrent submissions (many web workers, many
machines) can never both pass a limit that has room for one (RELIABILITY.md S5); DRF-style "read, compare,
write" throttling cannot promise that.

Counters are sliding-window logs: a sorted set per subject whose members are submissions (or, for "distinct
numbers", the numbers themselves) scored by time in milliseconds. ``admit`` checks every counter first and
counts in all of them only when all have room, so a refused submission uses up nothing.

Without Redis (the embedded demo: one web process) ``LocalStore`` does the same under a lock; the tests run
the same scenarios against both.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import redis
from django.conf import settings


@dataclass(frozen=True)
class Counter:
    """One limit: at most ``limit`` members in ``key`` within the last ``window_ms``.

    ``member`` is the submission's own token for a plain count, or the thing counted (a number) for a count of
    distinct values, where a member already in the window is not new and always passes.
    """

    key: str
    limit: int
    window_ms: int
    member: str
    distinct: bool = False


@dataclass(frozen=True)
class Admission:
    admitted: bool
    refused_by: int | None = None  # index of the first full counter
    count: int = 0


class AbuseStore(Protocol):
    def admit(self, counters: list[Counter], *, now_ms: int) -> Admission: ...

    def refund(self, counters: list[Counter]) -> None: ...

    def strike(self, key: str, *, token: str, threshold: int, window_ms: int, now_ms: int) -> int: ...

    def put(self, key: str, value: str, *, ttl_seconds: int) -> None: ...

    def take(self, key: str) -> str | None: ...

    def peek(self, key: str) -> str | None: ...

    def add_once(self, key: str, *, ttl_seconds: int) -> bool: ...


# KEYS: one sorted set per counter. ARGV: now_ms, then one JSON array per counter, [limit, window_ms, distinct,
# member] (one argument each: redis-py encodes every argument on its own, and this runs on every submission).
# Returns {0, 0} when admitted, else {index of the first full counter (1-based), its count}.
_ADMIT = """
local now = tonumber(ARGV[1])
local counters = {}
for i = 1, #KEYS do
  local limit, window, distinct, member = unpack(cjson.decode(ARGV[i + 1]))
  counters[i] = {window, member}
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[i])
  local known = distinct == 1 and redis.call('ZSCORE', KEYS[i], member)
  if not known and count >= limit then
    return {i, count}
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, counters[i][2])
  redis.call('PEXPIRE', KEYS[i], counters[i][1])
end
return {0, 0}
"""

# KEYS[1]: the subject's strikes. ARGV: now_ms, token, threshold, window_ms. Returns the count; at the threshold
# the strikes are cleared in the same step, so exactly one caller ever sees the threshold reached.
_STRIKE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]))
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
end
return count
"""


class RedisStore:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
        self._admit = self.client.register_script(_ADMIT)
        self._strike = self.client.register_script(_STRIKE)

    def admit(self, counters: list[Counter], *, now_ms: int) -> Admission:
        args: list[str | int] = [now_ms]
        args += [json.dumps([c.limit, c.window_ms, int(c.distinct), c.member]) for c in counters]
        index, count = self._admit(keys=[c.key for c in counters], args=args)
        if index == 0:
            return Admission(admitted=True)
        return Admission(admitted=False, refused_by=int(index) - 1, count=int(count))

    def refund(self, counters: list[Counter]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for counter in counters:
            if not counter.distinct:
                pipe.zrem(counter.key, counter.member)
        pipe.execute()

    def strike(self, key: str, *, token: str, threshold: int, window_ms: int, now_ms: int) -> int:
        return int(self._strike(keys=[key], args=[now_ms, token, threshold, window_ms]))

    def put(self, key: str, value: str, *, ttl_seconds: int) -> None:
        self.client.set(key, value, ex=ttl_seconds)

    def take(self, key: str) -> str | None:
        return self.client.getdel(key)  # type: ignore[return-value]

    def peek(self, key: str) -> str | None:
        return self.client.get(key)  # type: ignore[return-value]

    def add_once(self, key: str, *, ttl_seconds: int) -> bool:
        return bool(self.client.set(key, "1", ex=ttl_seconds, nx=True))


class LocalStore:
    """The same semantics in one process, for the embedded demo without Redis."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._zsets: dict[str, dict[str, int]] = {}
        self._values: dict[str, tuple[str, float]] = {}

    def _trim(self, key: str, floor: int) -> dict[str, int]:
        zset = self._zsets.setdefault(key, {})
        for member in [m for m, score in zset.items() if score <= floor]:
            del zset[member]
        return zset

    def admit(self, counters: list[Counter], *, now_ms: int) -> Admission:
        with self._mutex:
            for index, counter in enumerate(counters):
                zset = self._trim(counter.key, now_ms - counter.window_ms)
                known = counter.distinct and counter.member in zset
                if not known and len(zset) >= counter.limit:
                    return Admission(admitted=False, refused_by=index, count=len(zset))
            for counter in counters:
                self._zsets[counter.key][counter.member] = now_ms
            return Admission(admitted=True)

    def refund(self, counters: list[Counter]) -> None:
        with self._mutex:
            for counter in counters:
                if not counter.distinct:
                    self._zsets.get(counter.key, {}).pop(counter.member, None)

    def strike(self, key: str, *, token: str, threshold: int, window_ms: int, now_ms: int) -> int:
        with self._mutex:
            zset = self._trim(key, now_ms - window_ms)
            zset[token] = now_ms
            count = len(zset)
            if count >= threshold:
                zset.clear()
            return count

    def _live(self, key: str) -> str | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._values[key]
            return None
        return entry[0]

    def put(self, key: str, value: str, *, ttl_seconds: int) -> None:
        with self._mutex:
            self._values[key] = (value, time.monotonic() + ttl_seconds)

    def take(self, key: str) -> str | None:
        with self._mutex:
            value = self._live(key)
            self._values.pop(key, None)
            return value

    def peek(self, key: str) -> str | None:
        with self._mutex:
            return self._live(key)

    def add_once(self, key: str, *, ttl_seconds: int) -> bool:
        with self._mutex:
            if self._live(key) is not None:
                return False
            self._values[key] = ("1", time.monotonic() + ttl_seconds)
            return True


@lru_cache(maxsize=4)
def _store_for(url: str) -> AbuseStore:
    return RedisStore(url) if url else LocalStore()


def get_store() -> AbuseStore:
    """The process's store for the configured Redis (a connection pool), or the local one without Redis."""
    return _store_for(settings.WIDGET_REDIS_URL)


def key(*parts: str) -> str:
    """A store key under the configured prefix (each test run uses its own prefix)."""
    return settings.WIDGET_REDIS_KEY_PREFIX + ":".join(parts)


def now_ms() -> int:
    return int(time.time() * 1000)
