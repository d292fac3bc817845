"""Webhooks: a tenant's subscriptions, and the delivery of each event to each of them.

Lifecycle of a delivery: ``webhook_event_publish`` writes one pending WebhookDelivery per subscription that
wants the event and, once that commits, queues ``deliver_webhook`` on its own Celery queue (so a slow
receiver only ever holds up other webhooks, never a call). Each try claims the delivery by compare-and-set
(pending and due → lease pushed forward, attempts + 1), so a task run twice, or a task and the sweeper,
never POST the same try twice. A 2xx answer is ``succeeded``; anything else is retried with exponential
backoff and jitter until ``INTEGRATIONS_WEBHOOK_MAX_ATTEMPTS``, then ``failed``. A replay is a new delivery
of the same event (same event id), so receivers that de-duplicate on ``Huibo-Event-Id`` stay correct.

Delivery is at least once: a receiver that answered after our timeout may get the event again.

Signature: ``Huibo-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with ``Huibo-Timestamp``
the Unix time of the try; a receiver recomputes it over the raw body and refuses old timestamps (replays).
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integrations import metrics
from integrations.errors import ErrorCode, IntegrationError
from integrations.logs import current_request_id
from integrations.models import WebhookDelivery, WebhookSubscription
from tenants.models import Enterprise

logger = logging.getLogger(__name__)

SIGNATURE_VERSION = "v1"
_RESPONSE_BYTES_KEPT = 200


class WebhookEvent(StrEnum):
    CALLBACK_ACCEPTED = "callback.accepted"
    CALLBACK_ENTERPRISE_ANSWERED = "callback.enterprise_answered"
    CALLBACK_CONNECTED = "callback.connected"
    CALLBACK_COMPLETED = "callback.completed"
    CALLBACK_FAILED = "callback.failed"
    CALLBACK_CANCELLED = "callback.cancelled"
    CALLBACK_EXPIRED = "callback.expired"
    CDR_READY = "cdr.ready"


WEBHOOK_EVENT_LABELS = {
    WebhookEvent.CALLBACK_ACCEPTED: gettext_lazy("Request accepted"),
    WebhookEvent.CALLBACK_ENTERPRISE_ANSWERED: gettext_lazy("Enterprise answered"),
    WebhookEvent.CALLBACK_CONNECTED: gettext_lazy("Connected"),
    WebhookEvent.CALLBACK_COMPLETED: gettext_lazy("Completed"),
    WebhookEvent.CALLBACK_FAILED: gettext_lazy("Failed"),
    WebhookEvent.CALLBACK_CANCELLED: gettext_lazy("Cancelled"),
    WebhookEvent.CALLBACK_EXPIRED: gettext_lazy("Expired"),
    WebhookEvent.CDR_READY: gettext_lazy("CDR ready"),
}


# --- signing ---------------------------------------------------------------------------------------------------


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def webhook_signature_verify(
    *, secret: str, timestamp: str, body: bytes, signature: str, tolerance_seconds: int = 300, now: float | None = None
) -> bool:
    """What a receiver does (a reference for tenants): recompute, compare in constant time, refuse stale times."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance_seconds:
        return False
    expected = webhook_signature(secret=secret, timestamp=sent_at, body=body)
    return any(hmac.compare_digest(expected, candidate.strip()) for candidate in signature.split(","))


# --- subscriptions ---------------------------------------------------------------------------------------------


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def _validate_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IntegrationError(ErrorCode.INVALID_WEBHOOK_URL, _("Give an http:// or https:// URL."))
    if parts.username or parts.password:
        raise IntegrationError(ErrorCode.INVALID_WEBHOOK_URL, _("Do not put credentials in the URL."))
    if len(url) > 500:
        raise IntegrationError(ErrorCode.INVALID_WEBHOOK_URL, _("The URL is too long."))
    return url


def _validate_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    unknown = [event for event in chosen if event not in WebhookEvent.__members__.values()]
    if unknown or not chosen:
        raise IntegrationError(
            ErrorCode.UNKNOWN_WEBHOOK_EVENT,
            _("Choose one or more of: %(events)s.") % {"events": ", ".join(WebhookEvent)},
            extra={"unknown": unknown},
        )
    return sorted(chosen)


def webhook_subscription_create(
    *, enterprise: Enterprise, url: str, events: Iterable[str], description: str = ""
) -> WebhookSubscription:
    return WebhookSubscription.objects.create(
        enterprise=enterprise,
        url=_validate_url(url),
        events=_validate_events(events),
        description=description.strip()[:200],
        secret=_new_secret(),
    )


def webhook_subscription_update(
    *,
    subscription: WebhookSubscription,
    url: str | None = None,
    events: Iterable[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookSubscription:
    if url is not None:
        subscription.url = _validate_url(url)
    if events is not None:
        subscription.events = _validate_events(events)
    if description is not None:
        subscription.description = description.strip()[:200]
    if enabled is not None:
        subscription.enabled = enabled
    subscription.save(update_fields=["url", "events", "description", "enabled"])
    return subscription


def webhook_subscription_rotate_secret(*, subscription: WebhookSubscription) -> WebhookSubscription:
    subscription.secret = _new_secret()
    subscription.save(update_fields=["secret"])
    return subscription


def webhook_subscription_delete(*, subscription: WebhookSubscription) -> None:
    subscription.delete()


# --- publishing and delivering ---------------------------------------------------------------------------------


def _enqueue(delivery_ids: list[int]) -> None:
    """Queue the first try of each delivery once the rows are committed; a broker failure is only logged:
    the sweeper (``webhook_deliveries_dispatch_due``) sends what was not queued."""
    if not delivery_ids:
        return
    from integrations import tasks

    def send() -> None:
        for delivery_id in delivery_ids:
            tasks.deliver_webhook.apply_async((delivery_id,), queue=settings.INTEGRATIONS_WEBHOOK_QUEUE)

    transaction.on_commit(send, robust=True)


def webhook_subscriptions_exist(*, enterprise_id: int) -> bool:
    return WebhookSubscription.objects.filter(enterprise_id=enterprise_id, enabled=True).exists()


def webhook_event_publish(
    *,
    enterprise_id: int,
    event_type: WebhookEvent,
    data: Mapping[str, Any],
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    request_id: str = "",
) -> list[WebhookDelivery]:
    """One pending delivery per enabled subscription of the tenant that wants ``event_type``.

    ``event_id`` fixed by the caller makes publishing the same event twice queue it once.
    """
    subscriptions = [
        sub
        for sub in WebhookSubscription.objects.filter(enterprise_id=enterprise_id, enabled=True)
        if event_type.value in sub.events
    ]
    if not subscriptions:
        return []
    event_id = event_id or uuid.uuid4()
    now = timezone.now()
    payload = {
        "id": str(event_id),
        "type": event_type.value,
        "created_at": (occurred_at or now).isoformat(),
        "data": dict(data),
    }
    created = []
    for subscription in subscriptions:
        try:
            with transaction.atomic():
                created.append(
                    WebhookDelivery.objects.create(
                        enterprise_id=enterprise_id,
                        subscription=subscription,
                        event_id=event_id,
                        event_type=event_type.value,
                        payload=payload,
                        next_attempt_at=now,
                        request_id=request_id or current_request_id() or "",
                    )
                )
        except IntegrityError:
            continue  # this event was published to this subscription already
    _enqueue([delivery.pk for delivery in created])
    return created


def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send an event again, as a new delivery with its own log; the event id stays the same."""
    replay = WebhookDelivery.objects.create(
        enterprise_id=delivery.enterprise_id,
        subscription_id=delivery.subscription_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        payload=delivery.payload,
        next_attempt_at=timezone.now(),
        replay_of=delivery,
        request_id=current_request_id() or "",
    )
    _enqueue([replay.pk])
    return replay


def _backoff_seconds(attempts: int) -> float:
    """Exponential: base, 2×base, 4×base … capped, each ±20 % so receivers that failed together do not retry
    in lockstep."""
    base = settings.INTEGRATIONS_WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return min(base, settings.INTEGRATIONS_WEBHOOK_BACKOFF_MAX_SECONDS) * random.uniform(0.8, 1.2)


def _lease() -> timedelta:
    return timedelta(
        seconds=settings.INTEGRATIONS_WEBHOOK_CONNECT_TIMEOUT_SECONDS
        + settings.INTEGRATIONS_WEBHOOK_READ_TIMEOUT_SECONDS
        + 30
    )


class _RefusedAddress(Exception):
    pass


def _check_address(url: str) -> None:
    """Refuse receivers on private, loopback or link-local addresses (the compose network's Redis, AMI,
    cloud metadata): a tenant's URL must not make our worker reach inside. The check is made at send time;
    a DNS answer that changes between this look-up and the connection is not covered."""
    if settings.INTEGRATIONS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise _RefusedAddress(f"cannot resolve {host}: {error}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise _RefusedAddress(f"{host} resolves to a non-public address")


@dataclass(frozen=True)
class AttemptResult:
    delivery_id: int
    status: str
    status_code: int | None
    retry_in_seconds: float | None


def _post(delivery: WebhookDelivery, subscription: WebhookSubscription) -> tuple[int | None, str]:
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Huibo-Webhooks/1",
        "Huibo-Event": delivery.event_type,
        "Huibo-Event-Id": str(delivery.event_id),
        "Huibo-Delivery": str(delivery.pk),
        "Huibo-Timestamp": str(timestamp),
        "Huibo-Signature": webhook_signature(secret=subscription.secret, timestamp=timestamp, body=body),
    }
    if delivery.request_id:
        headers["X-Request-ID"] = delivery.request_id
    try:
        _check_address(subscription.url)
        with requests.post(
            subscription.url,
            data=body,
            headers=headers,
            timeout=(
                settings.INTEGRATIONS_WEBHOOK_CONNECT_TIMEOUT_SECONDS,
                settings.INTEGRATIONS_WEBHOOK_READ_TIMEOUT_SECONDS,
            ),
            allow_redirects=False,
            stream=True,
        ) as response:
            excerpt = response.raw.read(_RESPONSE_BYTES_KEPT, decode_content=True) or b""
            error = "" if 200 <= response.status_code < 300 else excerpt.decode("utf-8", "replace")
            return response.status_code, error
    except _RefusedAddress as refused:
        return None, str(refused)
    except requests.RequestException as failure:
        return None, f"{type(failure).__name__}: {failure}"


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> AttemptResult | None:
    """Make one try of a pending, due delivery; None when it is not ours to try (done, not due, or claimed)."""
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + _lease(), attempts=F("attempts") + 1)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    started = time.monotonic()
    status_code, error = (None, "subscription disabled") if not subscription.enabled else _post(delivery, subscription)
    elapsed = time.monotonic() - started
    delivered = status_code is not None and 200 <= status_code < 300
    finished_at = timezone.now()
    entry = {
        "at": finished_at.isoformat(),
        "status_code": status_code,
        "error": error[:_RESPONSE_BYTES_KEPT],
        "duration_ms": int(elapsed * 1000),
    }
    retry_in: float | None = None
    if delivered:
        fields: dict[str, Any] = {"status": WebhookDelivery.Status.SUCCEEDED, "delivered_at": finished_at}
    elif delivery.attempts >= settings.INTEGRATIONS_WEBHOOK_MAX_ATTEMPTS or not subscription.enabled:
        fields = {"status": WebhookDelivery.Status.FAILED}
    else:
        retry_in = _backoff_seconds(delivery.attempts)
        fields = {"next_attempt_at": finished_at + timedelta(seconds=retry_in)}
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING).update(
        last_status_code=status_code,
        last_error=error[:300],
        log=[*delivery.log, entry][-settings.INTEGRATIONS_WEBHOOK_MAX_ATTEMPTS :],
        **fields,
    )
    result = "delivered" if delivered else ("retrying" if retry_in is not None else "gave_up")
    metrics.increment(metrics.WEBHOOK_DELIVERIES, (delivery.event_type, result))
    metrics.observe(metrics.WEBHOOK_LATENCY, elapsed)
    log = logger.info if delivered else logger.warning
    log(
        "integrations.webhook.%s delivery=%s event=%s attempt=%s status_code=%s error=%s",
        result,
        delivery.pk,
        delivery.event_type,
        delivery.attempts,
        status_code,
        error[:120],
    )
    return AttemptResult(
        delivery_id=delivery.pk,
        status=str(fields.get("status", WebhookDelivery.Status.PENDING)),
        status_code=status_code,
        retry_in_seconds=retry_in,
    )


def webhook_deliveries_dispatch_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue pending deliveries whose try is overdue (a lost task, a broker restart). Safe to overlap with the
    tasks' own retries: each try claims its delivery first."""
    now = now or timezone.now()
    overdue = now - timedelta(seconds=settings.INTEGRATIONS_WEBHOOK_SWEEP_GRACE_SECONDS)
    ids = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=overdue)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    _enqueue(ids)
    return len(ids)
