"""/healthz (liveness: this process answers) and /readyz (readiness: everything a callback needs answers).

Readiness checks, each with a short timeout so the probe itself never hangs:
* PostgreSQL: ``SELECT 1``;
* Redis (REDIS_URL): ``PING`` on a fresh connection (skipped on the embedded default, which has none);
* Celery workers: a heartbeat each queue's worker wrote within ``INTEGRATIONS_WORKER_HEARTBEAT_MAX_AGE_SECONDS``
  (integrations.services.heartbeat says why a heartbeat and not ``inspect ping``);
* every enabled Asterisk node's AMI link is up, as the listener records it in ``AsteriskNode.ami_state``.

Both answer before ALLOWED_HOSTS is consulted (integrations.middleware): probes come from orchestrators that
use an IP address or a service name.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from integrations import selectors

logger = logging.getLogger(__name__)


@dataclass
class Check:
    ok: bool
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, **self.extra}


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        return Check(False, f"{type(error).__name__}: {error}"[:200])
    return Check(True)


def check_redis() -> Check:
    if not settings.REDIS_URL:
        return Check(True, "not configured (embedded default)")
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.INTEGRATIONS_REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=settings.INTEGRATIONS_REDIS_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except redis.RedisError as error:
        return Check(False, f"{type(error).__name__}: {error}"[:200])
    finally:
        client.close()
    return Check(True)


def check_workers() -> Check:
    ages = selectors.worker_heartbeat_ages()
    limit = settings.INTEGRATIONS_WORKER_HEARTBEAT_MAX_AGE_SECONDS
    stale = sorted(queue for queue, age in ages.items() if age is None or age > limit)
    return Check(
        not stale,
        f"no heartbeat within {limit} s from: {', '.join(stale)}" if stale else "",
        {"heartbeat_age_seconds": {q: (round(a, 1) if a is not None else None) for q, a in ages.items()}},
    )


def check_nodes() -> Check:
    nodes = [node for node in selectors.nodes_state() if node.enabled]
    down = [node.name for node in nodes if node.ami_state != "up"]
    detail = "no enabled Asterisk node" if not nodes else (f"AMI not up: {', '.join(down)}" if down else "")
    return Check(
        bool(nodes) and not down,
        detail,
        {"nodes": {node.name: {"ami_state": node.ami_state, "reason": node.reason} for node in nodes}},
    )


def readiness() -> dict[str, Check]:
    checks = {"database": check_database(), "redis": check_redis()}
    database_ok = checks["database"].ok
    checks["workers"] = check_workers() if checks["redis"].ok else Check(False, "Redis unreachable")
    checks["asterisk"] = check_nodes() if database_ok else Check(False, "database unreachable")
    return checks


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    ready = all(check.ok for check in checks.values())
    if not ready:
        logger.warning(
            "integrations.health.not_ready failing=%s", ",".join(name for name, c in checks.items() if not c.ok)
        )
    return JsonResponse(
        {"status": "ready" if ready else "not_ready", "checks": {name: c.as_dict() for name, c in checks.items()}},
        status=200 if ready else 503,
    )
