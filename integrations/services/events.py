"""What the engine and the CDR writer tell integrations: the two hooks they call, and nothing else.

Contract for both hooks: called after the caller's write, possibly inside its transaction; they only
register a ``transaction.on_commit`` callback (robust: an error is logged, never raised) and never touch
the database or the network themselves. So a webhook receiver or Redis being slow or down can neither
roll back nor delay a call's state change; the work runs once the engine's transaction has committed,
and a rolled-back move publishes nothing.

What the callback runs: the callback metrics, then one pending webhook delivery per subscription that
wants the event (queued on the webhook queue; see integrations.services.webhooks).

Which moves are events: the first move out of ``accepted`` (whatever it is: placed, scheduled, failed…)
publishes ``callback.accepted``, so it is sent for every request whichever way it was created; entering
``enterprise_answered``, ``connected``, ``completed``, ``failed``, ``cancelled`` and ``expired`` publish
their own event. With visitor-first calls the enterprise answers last, so ``callback.connected`` is the
moment it answered.
"""

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from callback.models import CallbackRequest
from callback.statemachine import Status
from integrations import metrics, redis_store
from integrations.logs import current_request_id
from integrations.representations import callback_representation, cdr_representation
from integrations.services.webhooks import WebhookEvent, webhook_event_publish, webhook_subscriptions_exist
from tenants.models import Enterprise

logger = logging.getLogger(__name__)

_EVENT_ON_ENTERING = {
    Status.ENTERPRISE_ANSWERED: WebhookEvent.CALLBACK_ENTERPRISE_ANSWERED,
    Status.CONNECTED: WebhookEvent.CALLBACK_CONNECTED,
    Status.COMPLETED: WebhookEvent.CALLBACK_COMPLETED,
    Status.FAILED: WebhookEvent.CALLBACK_FAILED,
    Status.CANCELLED: WebhookEvent.CALLBACK_CANCELLED,
    Status.EXPIRED: WebhookEvent.CALLBACK_EXPIRED,
}


_AS_ACCEPTED = {
    "status": Status.ACCEPTED.value,
    "is_final": False,
    "reason_code": "",
    "reason": "",
    "attempts": 0,
    "connected_at": None,
    "finished_at": None,
}


def callback_events_for(*, from_status: str, to_status: str) -> list[WebhookEvent]:
    events = [WebhookEvent.CALLBACK_ACCEPTED] if from_status == Status.ACCEPTED else []
    entered = _EVENT_ON_ENTERING.get(Status(to_status))
    if entered is not None and from_status != to_status:
        events.append(entered)
    return events


# Whether an enterprise has any webhook subscription, remembered briefly per process: the listener asks on every
# move of every call, and most enterprises have none. A new subscription takes effect within this many seconds.
_SUBSCRIBED_TTL_SECONDS = 10.0
_subscribed: dict[int, tuple[float, bool]] = {}


def _has_webhooks(enterprise_id: int) -> bool:
    now = time.monotonic()
    known = _subscribed.get(enterprise_id)
    if known is None or known[0] < now:
        known = (now + _SUBSCRIBED_TTL_SECONDS, webhook_subscriptions_exist(enterprise_id=enterprise_id))
        _subscribed[enterprise_id] = known
    return known[1]


def callback_event_published(
    *, request: CallbackRequest, event: str, from_status: str, to_status: str, reason: str = ""
) -> None:
    """Hook for callback.services.requests.request_transition after a successful move. Never raises.

    Called on the AMI listener's applier thread, which must keep up with Asterisk: it counts the move from what
    it already holds and queues webhook fan-out for a worker, after commit, only for enterprises that have any.
    """
    try:
        metrics.increment(metrics.CALLBACK_TRANSITIONS, (str(event), str(to_status), str(reason or "")))
        if to_status == Status.CONNECTED and request.connected_at is not None:
            metrics.observe(metrics.CALLBACK_SETUP, (request.connected_at - request.created_at).total_seconds())
        if to_status == Status.COMPLETED and request.connected_at is not None and request.finished_at is not None:
            metrics.observe(metrics.CALLBACK_TALK, (request.finished_at - request.connected_at).total_seconds())
        if not callback_events_for(from_status=str(from_status), to_status=str(to_status)):
            return
        if not _has_webhooks(request.enterprise_id):
            return
        from integrations import tasks

        kwargs = {
            "enterprise_id": request.enterprise_id,
            "event": str(event),
            "from_status": str(from_status),
            "to_status": str(to_status),
            "log_request_id": current_request_id() or str(request.correlation_id),
            # As it is right after this move: by the time a worker sends it, the request may have moved on.
            "callback": callback_representation(request, enterprise_slug=""),
            "moved_at": request.updated_at.isoformat(),
        }
        transaction.on_commit(
            lambda: tasks.callback_moved.apply_async(kwargs=kwargs, queue=settings.INTEGRATIONS_WEBHOOK_QUEUE),
            robust=True,
        )
    except Exception:  # the engine's move has happened; what we do about it must never undo it
        logger.exception("integrations.events.hook_failed request=%s", request.pk)


def callback_moved(
    *,
    enterprise_id: int,
    event: str,
    from_status: str,
    to_status: str,
    log_request_id: str,
    callback: dict[str, Any],
    moved_at: str = "",  # absent from tasks queued before it was sent: then the time of publishing
) -> None:
    """Webhooks for one move of a request (a worker runs it). ``callback``: the request as that move left it.

    Each event is dated when it happened (``callback.accepted``: when the request was accepted), not when the
    worker got to it, so a receiver can order the events of one request by their ``created_at``."""
    events = callback_events_for(from_status=from_status, to_status=to_status)
    slug = Enterprise.objects.filter(pk=enterprise_id).values_list("slug", flat=True).first() if events else None
    if slug is None:
        return
    body = {**callback, "enterprise": slug}
    for webhook_event in events:
        # callback.accepted tells of the request as it was accepted, before the move that followed
        accepted = webhook_event is WebhookEvent.CALLBACK_ACCEPTED
        data: dict[str, Any] = {"callback": {**body, **_AS_ACCEPTED} if accepted else dict(body)}
        data["transition"] = {"event": event, "from_status": from_status, "to_status": to_status}
        occurred = callback["created_at"] if accepted else moved_at
        webhook_event_publish(
            enterprise_id=enterprise_id,
            event_type=webhook_event,
            data=data,
            occurred_at=datetime.fromisoformat(occurred) if occurred else None,
            request_id=log_request_id,
        )


def cdr_ready_published(*, enterprise_id: int, records: Sequence[Any]) -> None:
    """Hook for cdr.services.cdr_record_attempt once an attempt's CDRs are written. Never raises.

    Running the CDR writer again publishes the same event id (derived from the call's Linkedid), so the
    receiver gets the event once.
    """
    try:
        if not records:
            return
        record_ids = [record.pk for record in records]
        transaction.on_commit(lambda: _cdrs_ready(enterprise_id=enterprise_id, record_ids=record_ids), robust=True)
    except Exception:
        logger.exception("integrations.events.cdr_hook_failed enterprise=%s", enterprise_id)


def _cdrs_ready(*, enterprise_id: int, record_ids: list[int]) -> None:
    from integrations import selectors

    enterprise = selectors.enterprise_by_id(enterprise_id=enterprise_id)
    records = list(selectors.cdrs_by_ids(enterprise=enterprise, ids=record_ids))
    if not records:
        return
    callback_ids = selectors.callback_public_ids(
        enterprise=enterprise, request_ids={r.callback_request_id for r in records}
    )
    event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"huibo:cdr.ready:{enterprise_id}:{records[0].linkedid}")
    # The CDR writer may run twice for one call (a redelivered task): count its legs once.
    if cache.add(redis_store.key("cdr-counted", event_id), 1, timeout=7 * 24 * 3600):
        for record in records:
            metrics.increment(metrics.LEG_OUTCOMES, (record.role, record.disposition or "unknown"))
            metrics.increment(metrics.BILLABLE_SECONDS, (record.role,), record.billable_seconds)
            if record.charge is not None:
                metrics.increment(
                    metrics.BILLING_CHARGED, (record.currency or "",), int((record.charge * 100).to_integral_value())
                )
    cdrs = [
        cdr_representation(
            record, enterprise_slug=enterprise.slug, callback_id=callback_ids.get(record.callback_request_id)
        )
        for record in records
    ]
    webhook_event_publish(
        enterprise_id=enterprise_id,
        event_type=WebhookEvent.CDR_READY,
        data={"callback_id": cdrs[0]["callback_id"], "cdrs": cdrs},
        event_id=event_id,
    )
