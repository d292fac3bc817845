"""Reads of the integrations app, scoped by enterprise, and the operations snapshot /metrics and /readyz use."""

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import redis
from django.conf import settings
from django.db.models import QuerySet

from callback import selectors as callback_selectors
from callback.models import CallbackRequest
from cdr import selectors as cdr_selectors
from cdr.models import CallDetailRecord
from cdr.selectors import CdrFilter
from integrations import redis_store
from integrations.models import ApiKey, WebhookDelivery, WebhookSubscription
from tenants.models import Enterprise


def api_keys_of(*, enterprise: Enterprise) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(enterprise=enterprise).order_by("revoked_at", "-created_at")


def webhook_subscriptions_of(*, enterprise: Enterprise) -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.filter(enterprise=enterprise).order_by("created_at", "id")


def webhook_deliveries_of(
    *, enterprise: Enterprise, subscription: WebhookSubscription | None = None, status: str = ""
) -> QuerySet[WebhookDelivery]:
    qs = WebhookDelivery.objects.filter(enterprise=enterprise).select_related("subscription")
    if subscription is not None:
        qs = qs.filter(subscription=subscription)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def enterprise_by_slug(*, slug: str) -> Enterprise | None:
    return Enterprise.objects.filter(slug=slug).first()


def enterprises_all() -> QuerySet[Enterprise]:
    """For operator keys only: every tenant."""
    return Enterprise.objects.order_by("slug")


def callback_requests_filtered(
    *,
    enterprise: Enterprise,
    status: str = "",
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[CallbackRequest]:
    qs = callback_selectors.callback_requests_of(enterprise=enterprise).select_related("enterprise")
    if status:
        qs = qs.filter(status=status)
    if created_after is not None:
        qs = qs.filter(created_at__gte=created_after)
    if created_before is not None:
        qs = qs.filter(created_at__lt=created_before)
    return qs


def callback_request_of(*, enterprise: Enterprise, public_id: str) -> CallbackRequest | None:
    """The enterprise's request with this public id (its correlation_id); None for anyone else's."""
    request = callback_selectors.request_by_public_id(public_id=public_id)
    if request is None or request.enterprise_id != enterprise.pk:
        return None
    return request


def enterprise_by_id(*, enterprise_id: int) -> Enterprise:
    return Enterprise.objects.get(pk=enterprise_id)


def callback_public_ids(*, enterprise: Enterprise, request_ids: Iterable[int]) -> dict[int, str]:
    """Public ids (correlation_id) of the enterprise's requests with these internal ids, in one query."""
    return {
        pk: str(public_id)
        for pk, public_id in callback_selectors.callback_requests_of(enterprise=enterprise)
        .filter(pk__in=set(request_ids))
        .values_list("pk", "correlation_id")
    }


# --- CDRs: cdr's own selectors, plus the one filter the API adds ----------------------------------------------


def cdrs_filtered(
    *, enterprise: Enterprise, filters: CdrFilter | None = None, callback_request_id: int | None = None
) -> QuerySet[CallDetailRecord]:
    qs = cdr_selectors.cdrs_of(enterprise=enterprise, filters=filters)
    return qs.filter(callback_request_id=callback_request_id) if callback_request_id is not None else qs


def cdr_of(*, enterprise: Enterprise, pk: int) -> CallDetailRecord | None:
    return cdr_selectors.cdrs_of(enterprise=enterprise).filter(pk=pk).first()


def cdrs_by_ids(*, enterprise: Enterprise, ids: Iterable[int]) -> QuerySet[CallDetailRecord]:
    return cdr_selectors.cdrs_of(enterprise=enterprise).filter(pk__in=list(ids)).order_by("role", "pk")


# --- operations: what /metrics and /readyz read at request time -----------------------------------------------


@dataclass(frozen=True)
class NodeState:
    name: str
    enabled: bool
    ami_state: str
    state_changed_at: datetime | None
    reason: str
    live_calls: int
    capacity: int


@dataclass(frozen=True)
class OperationsSnapshot:
    requests_by_status: dict[str, int]
    nodes: tuple[NodeState, ...]
    queue_depths: dict[str, int]
    pending: int
    heartbeat_ages: dict[str, float | None]


def nodes_state() -> tuple[NodeState, ...]:
    return tuple(
        NodeState(
            name=node.name,
            enabled=node.enabled,
            ami_state=node.ami_state,
            state_changed_at=node.ami_state_changed_at,
            reason=node.ami_state_reason,
            live_calls=live,
            capacity=node.channel_capacity,
        )
        for node, live in callback_selectors.nodes_with_load()
    )


def celery_queue_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(("celery", settings.INTEGRATIONS_WEBHOOK_QUEUE)))


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue: a Redis list per queue (kombu names them after the queue)."""
    client = redis_store.client()
    if client is None:
        return {}
    try:
        with client.pipeline(transaction=False) as pipe:
            for name in celery_queue_names():
                pipe.llen(name)
            depths = pipe.execute()
    except redis.RedisError:
        return {}
    return dict(zip(celery_queue_names(), (int(depth) for depth in depths), strict=True))


def worker_heartbeat_ages(*, now: float | None = None) -> dict[str, float | None]:
    """Seconds since a worker of each queue last ran the heartbeat task; None when never (or unreadable)."""
    from integrations.services import heartbeat

    now = time.time() if now is None else now
    ages: dict[str, float | None] = {}
    for queue_name in celery_queue_names():
        try:
            beat = heartbeat.worker_heartbeat_last(queue=queue_name)
        except Exception:  # the cache (Redis) being down is reported by the Redis check
            beat = None
        ages[queue_name] = None if beat is None else max(0.0, now - beat)
    return ages


def operations_snapshot() -> OperationsSnapshot:
    return OperationsSnapshot(
        requests_by_status=callback_selectors.requests_in_flight_by_status()
        if hasattr(callback_selectors, "requests_in_flight_by_status")
        else _requests_in_flight_by_status(),
        nodes=nodes_state(),
        queue_depths=queue_depths(),
        pending=WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).count(),
        heartbeat_ages=worker_heartbeat_ages(),
    )


def _requests_in_flight_by_status() -> dict[str, int]:
    from django.db.models import Count

    from callback.statemachine import FINAL_STATUSES, Status

    counts = dict(
        CallbackRequest.objects.filter(status__in=[s.value for s in Status if s not in FINAL_STATUSES])
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {s.value: counts.get(s.value, 0) for s in Status if s not in FINAL_STATUSES}
