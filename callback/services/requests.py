"""Accepting a callback request and moving it through the state machine.

``request_transition`` is the only writer of ``CallbackRequest.status``: a compare-and-set
(``UPDATE … WHERE status = <expected>``) plus a CallbackEvent row in the same transaction,
so when the listener, a task and the reaper race, exactly one of them wins and the others
see ``False`` and do nothing.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from callback.models import LIVE_ATTEMPT_STATUSES, CallAttempt, CallbackEvent, CallbackRequest
from callback.reasons import Reason
from callback.statemachine import FINAL_STATUSES, ON_THE_LINE_STATUSES, CallOrder, Event, Status, next_state
from huibo import db, prepared
from huibo.celery import task_send
from huibo.errors import ApplicationError
from integrations import services as integrations_services
from tenants import selectors as tenant_selectors
from tenants.models import Enterprise
from tenants.phone import normalize_e164

logger = logging.getLogger(__name__)


class CallbackRefused(ApplicationError):
    pass


def request_transition(
    *,
    request: CallbackRequest,
    event: Event,
    reason: Reason | None = None,
    detail: str = "",
    attempt: CallAttempt | None = None,
    expected_attempts: int | None = None,
    updates: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Apply ``event`` to ``request`` if it is still in the state we read; False when someone moved it first.

    Raises IllegalTransition when the event makes no sense in the state we read (a bug in the caller).
    """
    now = now or timezone.now()
    current = Status(request.status)
    target = next_state(current, event, CallOrder(request.call_order))
    # The reason says why the request is where it is now: a move without one clears the last (a call placed after
    # waiting for a free line is no longer "all lines busy").
    fields: dict[str, Any] = {
        "status": target.value,
        "updated_at": now,
        "reason_code": reason.value if reason else "",
        "detail": detail[:200],
        **(updates or {}),
    }
    if target in FINAL_STATUSES:
        fields["finished_at"] = now
    guard: dict[str, object] = {"id": request.pk, "status": current.value}
    if expected_attempts is not None:
        guard["attempts_made"] = expected_attempts
    # No savepoint when a caller's transaction is open (the listener's batch): the two writes still commit together.
    # The move and its event in one round trip, without compiling a QuerySet (huibo.db): the listener makes
    # several moves per call.
    with transaction.atomic(savepoint=False):
        moved = db.row_update_recorded(
            CallbackRequest,
            where=guard,
            values=fields,
            record=CallbackEvent(
                request=request,
                enterprise_id=request.enterprise_id,
                from_status=current.value,
                to_status=target.value,
                event=event.value,
                reason_code=reason.value if reason else "",
                detail=detail[:200],
                attempt=attempt,
            ),
        )
    if not moved:
        return False
    for key, value in fields.items():
        setattr(request, key, value)
    # Webhooks and metrics, after commit only; never raises into the engine (integrations/services/events.py).
    integrations_services.callback_event_published(
        request=request, event=event, from_status=current, to_status=target, reason=reason.value if reason else ""
    )
    logger.info(
        "callback.request.%s request=%s from=%s to=%s reason=%s",
        event.value,
        request.pk,
        current.value,
        target.value,
        reason.value if reason else "",
        extra={"correlation_id": str(request.correlation_id)},
    )
    return True


def expiry_after(due_at: datetime) -> datetime:
    """How long a request due at ``due_at`` may wait (for lines to free up) before it expires. A wait Huibo chose,
    for an opening or the visitor's retry spacing, moves ``due_at``, and with it this limit."""
    return due_at + timedelta(seconds=settings.CALLBACK_MAX_WAIT_SECONDS)


@dataclass(frozen=True)
class RowWithRequest:
    """An unsaved row (of any app) that points at the new request through its foreign key ``request_field``."""

    row: models.Model
    request_field: str


def _insert_with_rows(request: CallbackRequest, rows: Sequence[RowWithRequest]) -> None:
    """Insert the request and the rows that point at it: on PostgreSQL one statement (data-modifying CTEs), so one
    round trip, without the ORM's per-INSERT compilation; every widget submission comes through here."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":  # the embedded demo's SQLite has no INSERT in a CTE
        request.save(force_insert=True)
        for with_request in rows:
            setattr(with_request.row, with_request.request_field, request)
            with_request.row.save(force_insert=True)
        return
    columns, params = db.insert_values(request, connection)
    ctes = [f"request AS ({db.insert_sql(CallbackRequest._meta.db_table, columns)} RETURNING id)"]
    for index, with_request in enumerate(rows):
        row = with_request.row
        row_columns, row_values = db.insert_values(row, connection, exclude=(with_request.request_field,))
        ctes.append(
            f"row{index} AS (INSERT INTO {row._meta.db_table}"
            f" ({row._meta.get_field(with_request.request_field).column}, {', '.join(row_columns)})"
            f" SELECT id, {', '.join(['%s'] * len(row_columns))} FROM request)"
        )
        params += row_values
    with connection.cursor() as cursor:
        prepared.execute(cursor, f"WITH {', '.join(ctes)} SELECT id FROM request", params)
        request.pk = cursor.fetchone()[0]
    request._state.adding = False


def callback_request_create(
    *,
    enterprise: Enterprise,
    visitor_number: str,
    source: str = CallbackRequest.Source.WIDGET,
    not_before: datetime | None = None,
    now: datetime | None = None,
    rows_with: Sequence[RowWithRequest] = (),
) -> CallbackRequest:
    """Accept a callback request and start it: placed at once when open, else scheduled for the next opening.

    ``not_before`` (a time the visitor chose) schedules it for the first open instant from then on: never dialled
    earlier. The visitor number must already have passed the caller's own checks (captcha, limits); here it is
    normalised to E.164 once more so nothing unnormalised can reach AMI. Every widget submission comes through
    here: the request, its first event and ``rows_with`` (the widget's lead) are one INSERT statement, with no
    savepoint inside the caller's transaction.
    """
    now = now or timezone.now()
    number = normalize_e164(visitor_number, default_region=enterprise.default_country)
    if enterprise.status != Enterprise.Status.ACTIVE:
        raise CallbackRefused(Reason.ENTERPRISE_SUSPENDED.value, _("This enterprise does not take callbacks now."))
    opening = tenant_selectors.next_opening(enterprise=enterprise, at=max(now, not_before or now))
    if opening is None:
        raise CallbackRefused(Reason.NO_WORKING_HOURS.value, _("This enterprise has no working hours."))
    request = CallbackRequest(
        enterprise=enterprise,
        visitor_number=number,
        call_order=enterprise.call_order,
        source=source,
        due_at=opening,
        expires_at=expiry_after(opening),
        visitor_retries_left=enterprise.visitor_retries,
    )
    event = CallbackEvent(enterprise=enterprise, from_status="", to_status=request.status, event="accept")
    with transaction.atomic(savepoint=False):
        _insert_with_rows(request, [RowWithRequest(event, "request"), *rows_with])
        if opening > now:
            # A chosen time that falls in an opening is kept as chosen; one outside is moved to the next opening.
            chosen = not_before is not None and opening == not_before
            reason = Reason.TIME_CHOSEN if chosen else Reason.OUTSIDE_WORKING_HOURS
            request_transition(request=request, event=Event.SCHEDULE, reason=reason, now=now)
        else:
            # enqueue_attempt's hand-off through the cheaper publish: the same message, the call placed at once.
            from callback import tasks

            transaction.on_commit(lambda: task_send(tasks.place_attempt, request.pk, 1))
    return request


def enqueue_attempt(*, request_id: int, attempt_number: int) -> None:
    """Queue the task that places ``attempt_number``, once the caller's transaction has committed."""
    from callback import tasks  # tasks import services: import at call time to keep the graph one-way

    transaction.on_commit(lambda: tasks.place_attempt.delay(request_id, attempt_number))


def hand_off_finished_attempt(*, attempt_id: int) -> None:
    """Every ended attempt, answered or not, goes to CDR writing and billing settlement (which releases
    what the attempt reserved), once the transaction that ended it has committed. Through the cheaper publish: the
    listener hands off every call it ends."""
    from callback import tasks

    transaction.on_commit(lambda: task_send(tasks.attempt_finished, attempt_id))


def request_cancel(*, request: CallbackRequest) -> bool:
    """Cancel a request that has not reached a phone yet."""
    return request_transition(request=request, event=Event.CANCEL, reason=Reason.CANCELLED)


def requests_dispatch_due(*, now: datetime | None = None) -> int:
    """Start the requests whose next attempt is due, and expire those that waited past their limit.

    Due: scheduled ones whose time has come, and ones whose queued attempt never ran (a Redis restart loses
    queued tasks): accepted but never placed, or between two attempts of a hunt with no call up. Queueing an
    attempt twice is harmless: the task places only the attempt the request still waits for.
    """
    now = now or timezone.now()
    expired = 0
    for request in CallbackRequest.objects.filter(
        status__in=[Status.ACCEPTED, Status.SCHEDULED], expires_at__lte=now
    ).only("id", "status", "call_order", "correlation_id", "enterprise_id"):
        expired += request_transition(request=request, event=Event.EXPIRE, reason=Reason.WAITED_TOO_LONG, now=now)
    stalled_since = now - timedelta(seconds=settings.CALLBACK_STALLED_AFTER_SECONDS)
    due = CallbackRequest.objects.filter(
        Q(status=Status.SCHEDULED, due_at__lte=now)
        | Q(status=Status.ACCEPTED, due_at__lte=stalled_since)
        | Q(status__in=ON_THE_LINE_STATUSES, updated_at__lte=stalled_since)
    ).exclude(Exists(CallAttempt.objects.filter(request=OuterRef("pk"), status__in=LIVE_ATTEMPT_STATUSES)))
    started = 0
    for request_id, attempts_made in due.values_list("id", "attempts_made"):
        enqueue_attempt(request_id=request_id, attempt_number=attempts_made + 1)
        started += 1
    return started + expired
