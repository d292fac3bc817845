"""The Redis that rate limits, metrics and heartbeats share, with short timeouts and a key prefix.

Every key starts with ``INTEGRATIONS_REDIS_PREFIX`` so that tests (and several Huibo installs on one
Redis) never see each other's keys. Nothing here ever runs FLUSHDB.
"""

import threading
import time
from functools import cache

import redis
from django.conf import settings


@cache
def _client_for(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30, decode_responses=True
    )


def client(*, url: str | None = None) -> redis.Redis | None:
    """A client for REDIS_URL (or ``url``), or None on the embedded default, which has no Redis."""
    url = settings.REDIS_URL if url is None else url
    if not url:
        return None
    return _client_for(url, settings.INTEGRATIONS_REDIS_TIMEOUT_SECONDS)


def key(*parts: object) -> str:
    return settings.INTEGRATIONS_REDIS_PREFIX + ":".join(str(part) for part in parts)


class Breaker:
    """Stops trying Redis for a few seconds after it failed, so a dead Redis costs one timeout, not one per call.

    Used where Redis is an extra (metrics): the engine's listener thread must never queue behind it.
    """

    def __init__(self, pause_seconds: float = 5.0) -> None:
        self.pause_seconds = pause_seconds
        self._open_until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self) -> bool:
        """Open the breaker; True when it was closed (the caller logs once per outage)."""
        with self._lock:
            was_closed = not self.is_open
            self._open_until = time.monotonic() + self.pause_seconds
        return was_closed

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0
