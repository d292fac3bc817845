"""Turning what Asterisk reported about an attempt into the request's next state.

Called by the AMI listener (facts from callback.tracker), by the reconciliation after a
reconnect and by the reaper. Each function first moves the attempt by compare-and-set on its
own status, so a replayed or duplicated AMI event finds the attempt already moved and changes
nothing; only the winner moves the request. After an attempt ends the request either
completes, hunts the next bound number, waits to retry the visitor, or fails with the reason.
"""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from callback.facts import (
    AttemptEnded,
    CdrReported,
    Connected,
    Disposition,
    FirstLegAnswered,
    GroupMemberAnswered,
    LegReport,
    SecondLegDialing,
)
from callback.models import LIVE_ATTEMPT_STATUSES, CallAttempt, CallbackRequest, CallLeg
from callback.reasons import Reason
from callback.services import nodes as node_services
from callback.services.requests import enqueue_attempt, expiry_after, hand_off_finished_attempt, request_transition
from callback.statemachine import FINAL_STATUSES, CallOrder, Event, Status, allowed_events
from huibo import db
from tenants.phone import dial_digits

logger = logging.getLogger(__name__)

# The visitor's leg failed in a way worth ringing again later.
RETRYABLE_VISITOR_DISPOSITIONS = frozenset({Disposition.BUSY, Disposition.NO_ANSWER, Disposition.CONGESTION})


def _roles(order: CallOrder) -> tuple[str, str]:
    first, second = CallLeg.Role.ENTERPRISE, CallLeg.Role.VISITOR
    return (first, second) if order is CallOrder.ENTERPRISE_FIRST else (second, first)


# An attempt and its request in one row: what the outcome handlers read for every fact but a group member's.
_ATTEMPT_AND_REQUEST = f"SELECT {db.select_list(CallAttempt, 'a')}, {db.select_list(CallbackRequest, 'r')}"
_JOIN_REQUEST = f"JOIN {CallbackRequest._meta.db_table} r ON r.id = a.request_id"
_ATTEMPT_WITH_REQUEST = (
    f"{_ATTEMPT_AND_REQUEST} FROM {CallAttempt._meta.db_table} a {_JOIN_REQUEST} WHERE a.channel_id = %s"
)
_MOVED_ATTEMPT_WITH_REQUEST = f"{_ATTEMPT_AND_REQUEST} FROM changed a {_JOIN_REQUEST}"  # db.row_update_fetch


def _attempt_and_request(row: Sequence[Any] | None) -> tuple[CallAttempt, CallbackRequest] | None:
    """The instances a row of ``_ATTEMPT_AND_REQUEST`` holds."""
    if row is None:
        return None
    attempt, request = db.instances_from_row(row, CallAttempt, CallbackRequest)
    assert isinstance(attempt, CallAttempt) and isinstance(request, CallbackRequest)
    return attempt, request


def _attempt_move(
    channel_id: str, status: str | tuple[str, ...], values: dict[str, object]
) -> tuple[CallAttempt, CallbackRequest] | None:
    """Move the attempt by compare-and-set on its ``status`` (one, or a tuple of them); if it moved, the attempt
    as it is now and its request, read by the same statement."""
    return _attempt_and_request(
        db.row_update_fetch(
            CallAttempt,
            where={"channel_id": channel_id, "status": status},
            values=values,
            select=_MOVED_ATTEMPT_WITH_REQUEST,
        )
    )


def _is_current(attempt: CallAttempt, request: CallbackRequest) -> bool:
    """Whether the request still waits on this attempt (not moved on to a later one)."""
    return request.attempts_made == attempt.number


def attempt_first_answered(fact: FirstLegAnswered) -> bool:
    """Asterisk's OriginateResponse Success: the first leg's phone answered."""
    found = _attempt_move(
        fact.channel_id,
        (CallAttempt.Status.PLACING, CallAttempt.Status.ORIGINATED),
        {"status": CallAttempt.Status.FIRST_ANSWERED, "first_answered_at": fact.at},
    )
    if found is None or not _is_current(*found):
        return False
    attempt, request = found
    updates = {"answered_by_id": attempt.bound_number_id} if request.call_order == CallOrder.ENTERPRISE_FIRST else {}
    return _advance(request, Event.FIRST_ANSWERED, attempt, updates)


def attempt_group_member_answered(fact: GroupMemberAnswered) -> bool:
    """Simultaneous ring: the member that answered becomes the attempt's number, for its legs, CDR and bill."""
    attempt = CallAttempt.objects.filter(channel_id=fact.channel_id).exclude(ring_group=[]).first()
    member = next((m for m in attempt.ring_group if dial_digits(m["number"]) == fact.digits), None) if attempt else None
    if attempt is None or member is None:
        return False
    CallAttempt.objects.filter(pk=attempt.pk, status__in=LIVE_ATTEMPT_STATUSES).update(
        enterprise_number=member["number"], bound_number_id=member["bound_number_id"]
    )
    # OriginateResponse may have come first and named the group's first member as the one who answered.
    CallbackRequest.objects.filter(
        pk=attempt.request_id, attempts_made=attempt.number, answered_by__isnull=False
    ).update(answered_by_id=member["bound_number_id"])
    return True


def attempt_second_dialing(fact: SecondLegDialing) -> bool:
    """The dialplan started dialling the second party (DialBegin from the first leg)."""
    found = _attempt_and_request(db.row_fetch(_ATTEMPT_WITH_REQUEST, [fact.channel_id]))
    if found is None or not _is_current(*found) or found[0].status != CallAttempt.Status.FIRST_ANSWERED:
        return False
    attempt, request = found
    return _advance(request, Event.SECOND_DIALING, attempt)


def attempt_connected(fact: Connected) -> bool:
    """DialEnd ANSWER: the second party answered and Asterisk bridges the two legs."""
    found = _attempt_move(
        fact.channel_id,
        CallAttempt.Status.FIRST_ANSWERED,
        {"status": CallAttempt.Status.CONNECTED, "connected_at": fact.at},
    )
    if found is None or not _is_current(*found):
        return False
    attempt, request = found
    if request.status == _first_answered_status(request):
        # DialBegin was not seen (a restart of the listener in between): the call is connected all the same.
        _advance(request, Event.SECOND_DIALING, attempt)
    updates: dict[str, object] = {"connected_at": fact.at}
    if request.call_order == CallOrder.VISITOR_FIRST:
        updates["answered_by_id"] = attempt.bound_number_id
    return _advance(request, Event.SECOND_ANSWERED, attempt, updates)


def _first_answered_status(request: CallbackRequest) -> Status:
    return Status.ENTERPRISE_ANSWERED if request.call_order == CallOrder.ENTERPRISE_FIRST else Status.VISITOR_ANSWERED


def _advance(
    request: CallbackRequest, event: Event, attempt: CallAttempt, updates: dict[str, object] | None = None
) -> bool:
    return request_transition(request=request, event=event, attempt=attempt, updates=updates)


def attempt_ended(fact: AttemptEnded) -> bool:
    """Every channel of the attempt hung up: record both legs, then decide what the request does next."""
    # No savepoint inside the listener's batch: a failure there rolls the batch back and it is applied again
    # fact by fact (callback.listener), so a savepoint would only cost two round trips.
    with transaction.atomic(savepoint=False):
        # Ending the attempt locks its row (only that row: every ending locks the attempt before the request, so
        # none deadlock) and reads it with its request; of two enders racing, the second finds it ended.
        found = _attempt_move(
            fact.channel_id,
            LIVE_ATTEMPT_STATUSES,
            {
                "status": CallAttempt.Status.ENDED,
                "ended_at": fact.at,
                "outcome": _attempt_outcome(fact, fact.connected_at is not None),
                "asterisk_cdrs": list(fact.cdrs),
            },
        )
        if found is None:
            return False
        attempt, request = found
        order = CallOrder(request.call_order)
        first_role, second_role = _roles(order)
        connected_at = attempt.connected_at or fact.connected_at
        connected = connected_at is not None
        outcome = _attempt_outcome(fact, connected)
        if (connected_at, outcome) != (attempt.connected_at, attempt.outcome):
            # Only one of Asterisk's report and the row saw the call connected (a connect missed, a call adopted).
            db.rows_update(
                CallAttempt, where={"id": attempt.pk}, values={"connected_at": connected_at, "outcome": outcome}
            )
            attempt.connected_at, attempt.outcome = connected_at, outcome
        node_services.node_slot_release(node_id=attempt.node_id)
        numbers = {CallLeg.Role.ENTERPRISE: attempt.enterprise_number, CallLeg.Role.VISITOR: attempt.visitor_number}
        # The attempt row is locked and was not ended: its legs are written here exactly once.
        db.rows_insert(
            [
                _leg(attempt, role=role, number=numbers[role], report=report)
                for role, report in ((first_role, fact.first), (second_role, fact.second))
                if report is not None
            ]
        )
        # Deciding in the same transaction: a crash here leaves the attempt live for the reaper, never half-done.
        if _is_current(attempt, request):
            _after_attempt(request, attempt, fact, connected=connected)
        hand_off_finished_attempt(attempt_id=attempt.pk)
    logger.info(
        "callback.attempt.ended attempt=%s request=%s outcome=%s", attempt.pk, attempt.request_id, attempt.outcome
    )
    return True


def attempt_cdr_add(fact: CdrReported) -> bool:
    """Keep a Cdr that arrived after its attempt ended; the same Cdr twice is kept once."""
    with transaction.atomic():
        attempt = CallAttempt.objects.select_for_update().filter(channel_id=fact.channel_id).first()
        if attempt is None or fact.cdr in attempt.asterisk_cdrs:
            return False
        attempt.asterisk_cdrs = [*attempt.asterisk_cdrs, fact.cdr]
        attempt.save(update_fields=["asterisk_cdrs"])
    return True


def _attempt_outcome(fact: AttemptEnded, connected: bool) -> str:
    if connected:
        return "connected"
    if fact.first.disposition is not Disposition.ANSWERED:
        return f"first_leg_{fact.first.disposition.value}"
    second = fact.second.disposition.value if fact.second else Disposition.FAILED.value
    return f"second_leg_{second}"


def _leg(attempt: CallAttempt, *, role: str, number: str, report: LegReport) -> CallLeg:
    return CallLeg(
        attempt=attempt,
        enterprise_id=attempt.enterprise_id,
        role=role,
        number=number,
        disposition=report.disposition.value,
        hangup_cause=report.cause,
        hangup_cause_text=report.cause_text[:60],
        answered_at=report.answered_at,
        ended_at=report.ended_at,
        hung_up_first=report.hung_up_first,
    )


def _after_attempt(request: CallbackRequest, attempt: CallAttempt, fact: AttemptEnded, *, connected: bool) -> None:
    order = CallOrder(request.call_order)
    if fact.asterisk_shutdown and not connected:
        _fail(request, attempt, Reason.ASTERISK_RESTARTED)
        return
    if connected:
        _complete(request, attempt, fact, order)
        return
    enterprise_first = order is CallOrder.ENTERPRISE_FIRST
    if fact.first.disposition is not Disposition.ANSWERED:
        if enterprise_first:
            _hunt_or_fail(request, attempt)
        else:
            _retry_visitor_or_fail(request, attempt, fact.first)
        return
    second = fact.second or LegReport(disposition=Disposition.FAILED)
    if enterprise_first:
        if second.disposition is Disposition.NOT_DIALLED and request.enterprise.agent_confirmation:
            _hunt_or_fail(request, attempt)  # the agent did not press 1: offer the call to the next number
        elif second.disposition is Disposition.CANCELLED:
            _fail(request, attempt, Reason.ENTERPRISE_HUNG_UP_EARLY)
        else:
            _retry_visitor_or_fail(request, attempt, second)
    else:
        _fail(request, attempt, _enterprise_reason([second.disposition]))


def _complete(request: CallbackRequest, attempt: CallAttempt, fact: AttemptEnded, order: CallOrder) -> None:
    if request.status != Status.CONNECTED:
        # Missed the connect (listener restarted mid-call): walk the request up to connected first.
        for event in (Event.FIRST_ANSWERED, Event.SECOND_DIALING, Event.SECOND_ANSWERED):
            if event in _allowed(request):
                _advance(request, event, attempt)
    # The dialplan's TIMEOUT(absolute) starts when the first leg answers (it is billed from then).
    capped_from = attempt.first_answered_at or attempt.connected_at
    if fact.asterisk_shutdown:
        reason = Reason.ASTERISK_RESTARTED
    elif capped_from and attempt.max_seconds and fact.at - capped_from >= timedelta(seconds=attempt.max_seconds - 1):
        reason = Reason.COMPLETED_MAX_DURATION
    else:
        second_hung_up_first = fact.second is not None and fact.second.hung_up_first
        visitor_first_to_hang_up = second_hung_up_first == (order is CallOrder.ENTERPRISE_FIRST)
        reason = Reason.COMPLETED_VISITOR_HUNG_UP if visitor_first_to_hang_up else Reason.COMPLETED_ENTERPRISE_HUNG_UP
    request_transition(request=request, event=Event.HANG_UP, reason=reason, attempt=attempt)


def _allowed(request: CallbackRequest) -> frozenset[Event]:
    return allowed_events(Status(request.status), CallOrder(request.call_order))


def _fail(request: CallbackRequest, attempt: CallAttempt | None, reason: Reason, detail: str = "") -> None:
    request_transition(request=request, event=Event.FAIL, reason=reason, detail=detail, attempt=attempt)


def _enterprise_reason(dispositions: list[Disposition]) -> Reason:
    if dispositions and all(d is Disposition.BUSY for d in dispositions):
        return Reason.ENTERPRISE_BUSY
    if Disposition.NO_ANSWER in dispositions:
        return Reason.ENTERPRISE_NO_ANSWER
    if Disposition.REJECTED in dispositions or Disposition.ANSWERED in dispositions:
        return Reason.ENTERPRISE_DECLINED  # rejected the call, or answered and did not confirm it
    if Disposition.BUSY in dispositions:
        return Reason.ENTERPRISE_BUSY
    return Reason.ENTERPRISE_UNREACHABLE


def _hunt_or_fail(request: CallbackRequest, attempt: CallAttempt) -> None:
    """The enterprise leg failed on this number: offer the next one, or give up with what the round saw."""
    enabled = request.enterprise.bound_numbers.filter(enabled=True).values_list("pk", flat=True)
    if set(enabled) - set(request.hunted_numbers):
        enqueue_attempt(request_id=request.pk, attempt_number=attempt.number + 1)
        return
    round_dispositions = [
        Disposition(leg.disposition)
        for leg in CallLeg.objects.filter(
            attempt__request=request, role=CallLeg.Role.ENTERPRISE, attempt__bound_number_id__in=request.hunted_numbers
        ).order_by("-attempt__number")[: len(request.hunted_numbers)]
    ]
    _fail(request, attempt, _enterprise_reason(round_dispositions))


def _retry_visitor_or_fail(request: CallbackRequest, attempt: CallAttempt, visitor_leg: LegReport) -> None:
    reason = {
        Disposition.BUSY: Reason.VISITOR_BUSY,
        Disposition.NO_ANSWER: Reason.VISITOR_NO_ANSWER,
        Disposition.CONGESTION: Reason.VISITOR_UNREACHABLE,
    }.get(visitor_leg.disposition, Reason.VISITOR_UNREACHABLE)
    if visitor_leg.disposition in RETRYABLE_VISITOR_DISPOSITIONS and request.visitor_retries_left > 0:
        due_at = timezone.now() + timedelta(seconds=request.enterprise.visitor_retry_spacing_seconds)
        request_transition(
            request=request,
            event=Event.SCHEDULE,
            reason=Reason.VISITOR_RETRY,
            detail=str(reason.value),
            attempt=attempt,
            updates={
                "due_at": due_at,
                "expires_at": expiry_after(due_at),
                "visitor_retries_left": request.visitor_retries_left - 1,
                "hunted_numbers": [],
            },
        )
        return
    _fail(request, attempt, reason)


def attempt_end_unreported(*, attempt: CallAttempt, reason: Reason, up_until: datetime | None = None) -> bool:
    """End a live attempt Asterisk can no longer report on (node restarted, call gone, never reported).

    A connected call did happen, so its request completes; otherwise the request fails with ``reason``. With
    ``up_until``, the last moment the call is known to have been up (when the link to its node was lost), the
    legs that had answered are recorded up to then: billed for what is certain, never for more.
    """
    with transaction.atomic():
        if not CallAttempt.objects.filter(pk=attempt.pk, status__in=LIVE_ATTEMPT_STATUSES).update(
            status=CallAttempt.Status.ENDED, outcome=reason.value, ended_at=timezone.now()
        ):
            return False
        request = CallbackRequest.objects.get(pk=attempt.request_id)
        if up_until is not None:
            db.rows_insert(_legs_known_up(attempt, CallOrder(request.call_order), reason, up_until))
        node_services.node_slot_release(node_id=attempt.node_id)
        hand_off_finished_attempt(attempt_id=attempt.pk)
        if request.attempts_made == attempt.number and request.status not in FINAL_STATUSES:
            if request.status == Status.CONNECTED:
                request_transition(request=request, event=Event.HANG_UP, reason=reason, attempt=attempt)
            else:
                _fail(request, attempt, reason)
    logger.warning("callback.attempt.unreported attempt=%s reason=%s", attempt.pk, reason.value)
    return True


def _legs_known_up(attempt: CallAttempt, order: CallOrder, reason: Reason, up_until: datetime) -> list[CallLeg]:
    """The legs of an attempt that ended unseen, from each one's answer to ``up_until``; none that had not
    answered by then (their phones may still have rung: nothing to bill)."""
    first_role, second_role = _roles(order)
    numbers = {CallLeg.Role.ENTERPRISE: attempt.enterprise_number, CallLeg.Role.VISITOR: attempt.visitor_number}
    answered = ((first_role, attempt.first_answered_at), (second_role, attempt.connected_at))
    return [
        _leg(
            attempt,
            role=role,
            number=numbers[role],
            report=LegReport(
                disposition=Disposition.ANSWERED,
                cause_text=f"unreported: {reason.value}",
                answered_at=answered_at,
                ended_at=up_until,
            ),
        )
        for role, answered_at in answered
        if answered_at is not None and answered_at < up_until
    ]


def attempts_reap(*, now: datetime | None = None, grace_seconds: int = 60) -> int:
    """End attempts Asterisk has been silent about for longer than their call can last: still ringing past their
    own ring time, or connected past their maximum duration, and the grace on top (RELIABILITY R2)."""
    now = now or timezone.now()
    grace = timedelta(seconds=grace_seconds)
    stale = [
        attempt
        for attempt in CallAttempt.objects.filter(
            status__in=[CallAttempt.Status.PLACING, CallAttempt.Status.ORIGINATED, CallAttempt.Status.FIRST_ANSWERED],
            originate_sent_at__lt=now - grace,
        )
        if attempt.originate_sent_at + timedelta(seconds=attempt.ring_seconds) + grace < now
    ]
    stale += [
        attempt
        for attempt in CallAttempt.objects.filter(status=CallAttempt.Status.CONNECTED)
        if attempt.connected_at and attempt.connected_at + timedelta(seconds=attempt.max_seconds) + grace < now
    ]
    return sum(attempt_end_unreported(attempt=attempt, reason=Reason.ORIGINATE_LOST) for attempt in stale)
