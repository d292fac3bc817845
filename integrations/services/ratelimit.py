"""Per-API-key rate limits: a sliding one-window log in Redis, checked and recorded in one Lua script.

Why Lua: a read-then-write from Python lets 100 concurrent requests all read "under the limit" and all
pass (DRF's own throttles have exactly that race, RELIABILITY.md S5). The script runs atomically in
Redis, so N concurrent hits admit exactly ``limit``. It uses Redis's clock, so web processes whose
clocks drift still agree.

On the embedded default (no Redis) a process-local log stands in; it is exact within the one web process
the demo runs.
"""

import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

import redis
from django.conf import settings
from django.utils.translation import gettext as _

from integrations import redis_store
from integrations.errors import ErrorCode, IntegrationError

_SLIDING_LOG = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, used + 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, used, tonumber(oldest[2]) + window - now}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    used: int
    retry_after_seconds: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


_local_lock = threading.Lock()
_local_logs: dict[str, deque[float]] = {}


def _hit_locally(bucket: str, *, limit: int, window_seconds: int) -> RateDecision:
    now = time.monotonic()
    with _local_lock:
        log = _local_logs.setdefault(bucket, deque())
        while log and log[0] <= now - window_seconds:
            log.popleft()
        if len(log) < limit:
            log.append(now)
            return RateDecision(True, limit, len(log), 0)
        return RateDecision(False, limit, len(log), max(1, int(log[0] + window_seconds - now) + 1))


def rate_limit_hit(*, bucket: str, limit: int, window_seconds: int) -> RateDecision:
    """Count one hit on ``bucket`` if it is under ``limit`` in the last ``window_seconds``.

    Raises IntegrationError(rate_limiter_unavailable, 503) when Redis does not answer: an API that cannot
    count its callers refuses rather than let them through unmetered.
    """
    client = redis_store.client()
    if client is None:
        return _hit_locally(bucket, limit=limit, window_seconds=window_seconds)
    try:
        allowed, used, retry_ms = client.eval(
            _SLIDING_LOG,
            1,
            redis_store.key("ratelimit", bucket),
            window_seconds * 1000,
            limit,
            uuid.uuid4().hex,
        )
    except redis.RedisError as error:
        raise IntegrationError(
            ErrorCode.RATE_LIMITER_UNAVAILABLE,
            _("The request could not be counted against your rate limit; try again shortly."),
            http_status=503,
        ) from error
    return RateDecision(bool(allowed), limit, int(used), (int(retry_ms) + 999) // 1000 if not allowed else 0)


def api_key_rate_limit_hit(*, api_key_id: int) -> RateDecision:
    return rate_limit_hit(
        bucket=f"api-key:{api_key_id}",
        limit=settings.API_RATE_LIMIT_PER_MINUTE,
        window_seconds=60,
    )
