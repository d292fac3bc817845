"""Worker heartbeats: proof, for /readyz and /metrics, that a Celery worker is consuming each queue.

Beat queues ``integrations.tasks.worker_heartbeat`` on every queue every few seconds; the worker that runs
it writes the time into the cache. That one write proves the broker, beat and a worker of that queue all
work, which ``inspect ping`` (a broadcast answered by idle workers, not by the queue) does not.
"""

import time

from django.core.cache import cache

from integrations import redis_store


def _key(queue: str) -> str:
    return redis_store.key("worker-heartbeat", queue)


def worker_heartbeat_record(*, queue: str, at: float | None = None) -> None:
    cache.set(_key(queue), time.time() if at is None else at, timeout=24 * 3600)


def worker_heartbeat_last(*, queue: str) -> float | None:
    value = cache.get(_key(queue))
    return float(value) if value is not None else None
