"""Placing one attempt of a callback: the work of the ``place_attempt`` Celery task.

Lifecycle of an attempt here: the request is re-read and left alone unless it still waits for
exactly this attempt (so a redelivered task places nothing twice); capacity is reserved under
row locks (the enterprise's concurrency cap, then the least-loaded node under its capacity);
the attempt row, with its ActionID and ChannelIds fixed in advance, and the request's move to
``dialing_<first leg>`` commit together; only then is the Originate sent, outside the
transaction. The task never waits for the call: the AMI listener reports what happens next.
"""

import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing import services as billing_services
from callback.ami import AmiNotConnected, OriginateOutcomeUnknown, OriginateRejected, OriginateRequest
from callback.hunting import Candidate, hunting_order, offerable
from callback.models import (
    LIVE_ATTEMPT_STATUSES,
    RINGING_ATTEMPT_STATUSES,
    AsteriskNode,
    CallAttempt,
    CallbackRequest,
)
from callback.reasons import Reason
from callback.services import nodes as node_services
from callback.services.requests import enqueue_attempt, expiry_after, hand_off_finished_attempt, request_transition
from callback.statemachine import CallOrder, Event, Status, allowed_events
from cdr import selectors as cdr_selectors
from huibo import db, prepared
from huibo.errors import ApplicationError
from integrations import metrics
from tenants import selectors as tenant_selectors
from tenants.models import Enterprise
from tenants.phone import dial_digits

logger = logging.getLogger(__name__)

# Why billing may refuse to reserve for a call; each has its own reason for people.
BILLING_REFUSALS = frozenset(
    {Reason.BALANCE_EXHAUSTED, Reason.SPEND_CAP_REACHED, Reason.NO_RATE, Reason.NO_BILLING_ACCOUNT}
)
# How soon to look again when every line of the enterprise is taken.
LINES_BUSY_RETRY = timedelta(seconds=10)


class OriginateGateway(Protocol):
    def originate(self, node: AsteriskNode, request: OriginateRequest) -> None:
        """Send the Originate. Raises AmiNotConnected (nothing sent), OriginateRejected or OriginateOutcomeUnknown."""


def _sticky_bound_number_id(request: CallbackRequest) -> int | None:
    if not request.enterprise.sticky_routing:
        return None
    last = (
        CallAttempt.objects.filter(
            enterprise=request.enterprise, visitor_number=request.visitor_number, connected_at__isnull=False
        )
        .order_by("-connected_at")
        .values_list("bound_number_id", flat=True)
        .first()
    )
    return last


_REQUEST_WITH_ENTERPRISE = (
    f"SELECT {db.select_list(CallbackRequest, 'r')}, {db.select_list(Enterprise, 'e')}"
    f" FROM {CallbackRequest._meta.db_table} r JOIN {Enterprise._meta.db_table} e ON e.id = r.enterprise_id"
    " WHERE r.id = %s"
)


def _request_with_enterprise(request_id: int) -> CallbackRequest:
    """``select_related("enterprise").get(pk=…)`` in one plain statement: every placement starts here."""
    with transaction.get_connection().cursor() as cursor:
        prepared.execute(cursor, _REQUEST_WITH_ENTERPRISE, [request_id])
        row = cursor.fetchone()
    if row is None:
        raise CallbackRequest.DoesNotExist(f"callback request {request_id}")
    request, enterprise = db.instances_from_row(row, CallbackRequest, Enterprise)
    assert isinstance(request, CallbackRequest) and isinstance(enterprise, Enterprise)
    request.enterprise = enterprise
    return request


def _status_in(statuses: Sequence[str]) -> str:
    # Constants, not parameters: the partial indexes' conditions, which a prepared statement's plan must match.
    quoted = ", ".join(f"'{status}'" for status in statuses)
    return f"status IN ({quoted})"


def _enterprise_lock_load(enterprise_id: int, numbers: list[str]) -> tuple[int, int, set[str]]:
    """Lock the enterprise's row, then read its concurrency cap, its live attempts and which ``numbers`` are busy.

    Bound numbers already on a Huibo call ring busy for a second caller: skip them without ringing. A ring group
    that nobody has answered yet holds every member; once one answers, only that one.
    """
    table, live_now = CallAttempt._meta.db_table, _status_in(LIVE_ATTEMPT_STATUSES)
    with transaction.get_connection().cursor() as cursor:
        prepared.execute(
            cursor,
            f"SELECT max_concurrent_calls FROM {Enterprise._meta.db_table} WHERE id = %s{db.row_lock_clause()}",
            [enterprise_id],
        )
        (cap,) = cursor.fetchone()
        # A statement of its own, after the lock: its snapshot then holds what the placements that had the lock
        # before us committed (one statement would read from before it waited). Each branch has its own index.
        prepared.execute(
            cursor,
            f"SELECT 1, enterprise_number, status, ring_group FROM {table} WHERE enterprise_id = %s AND {live_now}"
            f" UNION ALL SELECT 0, enterprise_number, status, ring_group FROM {table}"
            f" WHERE enterprise_number IN ({', '.join(['%s'] * len(numbers)) or 'NULL'}) AND {live_now}"
            f" UNION ALL SELECT 0, enterprise_number, status, ring_group FROM {table}"
            f" WHERE {_status_in(RINGING_ATTEMPT_STATUSES)} AND ring_group <> '[]'",
            [enterprise_id, *numbers],
        )
        rows = cursor.fetchall()
    live = sum(own for own, _number, _status, _group in rows)
    busy = {number for _own, number, _status, _group in rows}
    for _own, _number, status, group in rows:
        if (
            status in RINGING_ATTEMPT_STATUSES
        ):  # the database hands JSON back as text (Django parses it in the field, not here)
            busy.update(member["number"] for member in (json.loads(group) if isinstance(group, str) else group))
    return cap, live, busy


# The agent's confirmation in the dialplan: a beep, then up to 5 s for the key (asterisk/extensions.conf).
AGENT_CONFIRM_SECONDS = 10


def _agent_confirms(enterprise: Enterprise, order: CallOrder) -> bool:
    return enterprise.agent_confirmation and order is CallOrder.ENTERPRISE_FIRST


def _originate_request(
    attempt: CallAttempt, *, enterprise: Enterprise, order: CallOrder, ring_timeout: int
) -> OriginateRequest:
    if attempt.ring_group:
        enterprise_digits = "-".join(dial_digits(member["number"]) for member in attempt.ring_group)
    else:
        enterprise_digits = dial_digits(attempt.enterprise_number)
    visitor_digits = dial_digits(attempt.visitor_number)
    # The agent's phone shows the visitor's own number ("who is calling" is an agent's first question); the
    # visitor's shows the enterprise's caller ID, the hotline they asked to be called back from.
    hotline_digits = dial_digits(enterprise.caller_id)
    if order is CallOrder.ENTERPRISE_FIRST:
        first, second, first_sees, second_sees = enterprise_digits, visitor_digits, visitor_digits, hotline_digits
    else:
        first, second, first_sees, second_sees = visitor_digits, enterprise_digits, hotline_digits, visitor_digits
    variables = {
        "HUIBO_ATTEMPT": str(attempt.pk),
        "HUIBO_RING_TIMEOUT": str(ring_timeout),
        "HUIBO_DIAL_TIMEOUT": str(settings.CALLBACK_SECOND_LEG_TIMEOUT_SECONDS),
        "HUIBO_MAX_SECONDS": str(attempt.max_seconds),
        "HUIBO_SHOWN_NUMBER": second_sees,
    }
    # /n: no Local channel optimisation, so the pair stays up as in the recorded calls (see extensions.conf).
    channel = f"Local/{first}@{settings.AMI_OUTBOUND_CONTEXT}/n"
    if attempt.ring_group:  # enterprise first only (tenants refuse simultaneous ring with visitor first)
        channel = f"Local/s@{settings.AMI_RINGALL_CONTEXT}/n"
        variables["HUIBO_RING_GROUP"] = enterprise_digits
    if _agent_confirms(enterprise, order):
        variables["HUIBO_CONFIRM"] = "1"
    if cdr_selectors.recording_enabled(enterprise=enterprise):
        variables["HUIBO_RECORD"] = "1"
    return OriginateRequest(
        action_id=attempt.action_id,
        channel=channel,
        context=settings.AMI_CALLBACK_CONTEXT,
        exten=second,
        priority=1,
        timeout_ms=ring_timeout * 1000,
        caller_id=f"<{first_sees}>" if first_sees else None,
        variables=variables,
        channel_id=attempt.channel_id,
        other_channel_id=attempt.other_channel_id,
    )


def _wait_or_fail(request: CallbackRequest, *, reason: Reason, until: datetime, now: datetime) -> None:
    updates: dict[str, object] = {"due_at": until, "hunted_numbers": []}
    if reason is Reason.OUTSIDE_WORKING_HOURS:
        # Closed now (a retry fell after closing): the next opening gets the whole wait, as a new request would.
        # Busy lines keep the limit the request has: that is the wait it bounds.
        updates["expires_at"] = expiry_after(until)
    request_transition(request=request, event=Event.SCHEDULE, reason=reason, updates=updates, now=now)


def attempt_place(
    *, request_id: int, attempt_number: int, gateway: OriginateGateway, now: datetime | None = None
) -> CallAttempt | None:
    """Place attempt ``attempt_number`` of a request, or do nothing if that is no longer its next step."""
    clock_given = now is not None
    now = now or timezone.now()
    request = _request_with_enterprise(request_id)
    order = CallOrder(request.call_order)
    status = Status(request.status)
    if request.attempts_made != attempt_number - 1 or Event.PLACE not in allowed_events(status, order):
        return None  # placed already (a redelivered task), or the request moved on
    if status is Status.SCHEDULED and request.due_at > now:
        return None
    enterprise = request.enterprise
    if enterprise.status != Enterprise.Status.ACTIVE:
        request_transition(request=request, event=Event.FAIL, reason=Reason.ENTERPRISE_SUSPENDED, now=now)
        return None
    opening = tenant_selectors.next_opening(enterprise=enterprise, at=now)
    if opening is None or opening > now:
        if opening is None:
            request_transition(request=request, event=Event.FAIL, reason=Reason.NO_WORKING_HOURS, now=now)
        else:
            _wait_or_fail(request, reason=Reason.OUTSIDE_WORKING_HOURS, until=opening, now=now)
        return None

    # Metrics of the moves go out after the commit, not from inside the enterprise's critical section.
    with metrics.batched(), transaction.atomic():
        enabled = [Candidate(*number) for number in tenant_selectors.numbers_to_dial(enterprise=enterprise)]
        # The enterprise's placements queue on its row from here to the commit: the cap and the busy numbers below
        # hold only because they do. Only what needs that is read after it.
        cap, live, busy_numbers = _enterprise_lock_load(enterprise.pk, [c.number for c in enabled])
        if live >= cap:
            _wait_or_fail(request, reason=Reason.ALL_LINES_BUSY, until=now + LINES_BUSY_RETRY, now=now)
            return None
        if not enabled:
            request_transition(request=request, event=Event.FAIL, reason=Reason.NO_ENABLED_NUMBER, now=now)
            return None
        ordered = hunting_order(
            enabled,
            strategy=enterprise.hunting_strategy,
            rotation=request.pk,
            sticky_bound_number_id=_sticky_bound_number_id(request),
        )
        offer = offerable(ordered, already_offered=set(request.hunted_numbers), busy_numbers=busy_numbers)
        if not offer:
            # Every number not yet offered is on another Huibo call: wait for one to free up.
            _wait_or_fail(request, reason=Reason.ALL_LINES_BUSY, until=now + LINES_BUSY_RETRY, now=now)
            return None
        ring_all = enterprise.hunting_strategy == Enterprise.HuntingStrategy.SIMULTANEOUS and len(offer) > 1
        group = offer if ring_all and order is CallOrder.ENTERPRISE_FIRST else offer[:1]
        # Recorded on the first member until the listener learns which one answered; reserved at the dearest.
        candidate = group[0]
        ring_timeout = max(member.ring_timeout_seconds for member in group)
        offered_before = list(request.hunted_numbers)
        call_id = uuid.uuid4().hex
        try:
            max_seconds = billing_services.call_reserve(
                enterprise=enterprise,
                reservation_key=f"{call_id}-1",
                enterprise_numbers=[member.number for member in group],
                visitor_number=request.visitor_number,
            )
        except ApplicationError as refusal:
            reason = Reason(refusal.code) if refusal.code in BILLING_REFUSALS else Reason.BALANCE_EXHAUSTED
            request_transition(request=request, event=Event.FAIL, reason=reason, detail=refusal.message, now=now)
            return None
        # The node's row stays locked to the commit and every placement on that node waits for it: take it last.
        node = node_services.node_slot_take()
        if node is None:
            billing_services.call_release(reservation_key=f"{call_id}-1")
            request_transition(request=request, event=Event.FAIL, reason=Reason.NO_NODE_AVAILABLE, now=now)
            return None
        attempt = db.row_insert(
            CallAttempt(
                request=request,
                enterprise=enterprise,
                number=attempt_number,
                node=node,
                bound_number_id=candidate.bound_number_id,
                enterprise_number=candidate.number,
                ring_group=[{"bound_number_id": m.bound_number_id, "number": m.number} for m in group]
                if len(group) > 1
                else [],
                visitor_number=request.visitor_number,
                action_id=f"huibo-{call_id}",
                channel_id=f"{call_id}-1",
                other_channel_id=f"{call_id}-2",
                max_seconds=max_seconds,
                ring_seconds=ring_timeout
                + (AGENT_CONFIRM_SECONDS if _agent_confirms(enterprise, order) else 0)
                + settings.CALLBACK_SECOND_LEG_TIMEOUT_SECONDS,
                originate_sent_at=now,
            )
        )
        moved = request_transition(
            request=request,
            event=Event.PLACE,
            attempt=attempt,
            expected_attempts=attempt_number - 1,
            updates={
                "attempts_made": attempt_number,
                "hunted_numbers": [*offered_before, *(member.bound_number_id for member in group)],
            },
            now=now,
        )
        if not moved:
            transaction.set_rollback(True)
            return None

    originate = _originate_request(attempt, enterprise=enterprise, order=order, ring_timeout=ring_timeout)
    # The moment it goes out, past any wait for the enterprise's or the node's row above.
    sent_at = now if clock_given else timezone.now()
    try:
        gateway.originate(node, originate)
    except AmiNotConnected as error:
        # Nothing reached Asterisk: take the node out and offer the same number(s) again through another node.
        node_services.node_mark_down(node=node, reason=str(error))
        _attempt_abandon(attempt, outcome="node_unreachable")
        CallbackRequest.objects.filter(pk=request.pk).update(hunted_numbers=offered_before)
        enqueue_attempt(request_id=request.pk, attempt_number=attempt_number + 1)
        return attempt
    except OriginateRejected as error:
        _attempt_abandon(attempt, outcome="originate_rejected")
        request_transition(
            request=request, event=Event.FAIL, reason=Reason.ORIGINATE_REJECTED, detail=error.message, attempt=attempt
        )
        return attempt
    except OriginateOutcomeUnknown:
        # Asterisk may be dialling. Never re-send: the listener sees the call's events on its own link,
        # and the reaper ends the attempt if none come.
        logger.warning("callback.attempt.originate_unknown attempt=%s node=%s", attempt.pk, node.pk)
        return attempt
    db.rows_update(
        CallAttempt,
        where={"id": attempt.pk, "status": CallAttempt.Status.PLACING},
        values={"status": CallAttempt.Status.ORIGINATED, "originate_sent_at": sent_at},
    )
    logger.info("callback.attempt.originated attempt=%s request=%s node=%s", attempt.pk, request.pk, node.pk)
    return attempt


def _attempt_abandon(attempt: CallAttempt, *, outcome: str) -> None:
    """End an attempt that never reached a phone; its node slot goes back, and the hand-off gives its reservation
    back."""
    with transaction.atomic():
        if CallAttempt.objects.filter(pk=attempt.pk, status__in=LIVE_ATTEMPT_STATUSES).update(
            status=CallAttempt.Status.ENDED, outcome=outcome, ended_at=timezone.now()
        ):
            node_services.node_slot_release(node_id=attempt.node_id)
            hand_off_finished_attempt(attempt_id=attempt.pk)
