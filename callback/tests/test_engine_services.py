"""Placing attempts and reacting to their outcomes, on PostgreSQL, with a recording gateway in place of AMI.

The end-to-end tests (tests/test_end_to_end.py) drive the same services through Celery, the listener and
the PBX simulator over TCP; these pin down the rules one at a time.
"""

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from callback.ami import AmiNotConnected, OriginateRequest
from callback.facts import AttemptEnded, Connected, Disposition, FirstLegAnswered, GroupMemberAnswered, LegReport
from callback.models import AsteriskNode, CallAttempt, CallbackRequest
from callback.services import outcomes, placement, requests
from callback.statemachine import Status
from conftest import make_enterprise
from tenants import services as tenant_services
from tenants.models import Enterprise
from tenants.phone import InvalidPhoneNumber

pytestmark = pytest.mark.django_db


class RecordingGateway:
    def __init__(self, fail_nodes: set[str] | None = None) -> None:
        self.sent: list[tuple[str, OriginateRequest]] = []
        self.fail_nodes = fail_nodes or set()

    def originate(self, node: AsteriskNode, request: OriginateRequest) -> None:
        if node.name in self.fail_nodes:
            raise AmiNotConnected(f"{node.name} refused the connection")
        self.sent.append((node.name, request))


@pytest.fixture
def node(db: None) -> AsteriskNode:
    return AsteriskNode.objects.create(name="pbx-1", host="127.0.0.1", username="huibo", secret="s")


@pytest.fixture
def gateway() -> RecordingGateway:
    return RecordingGateway()


def _accept(enterprise: Enterprise, number: str = "+8613900001005", **kwargs: object) -> CallbackRequest:
    return requests.callback_request_create(enterprise=enterprise, visitor_number=number, **kwargs)  # type: ignore[arg-type]


def _place(request: CallbackRequest, gateway: RecordingGateway, attempt_number: int = 1) -> CallAttempt | None:
    return placement.attempt_place(request_id=request.pk, attempt_number=attempt_number, gateway=gateway)


def _ended(attempt: CallAttempt, first: Disposition, second: Disposition | None = None, **kw: object) -> AttemptEnded:
    now = datetime.now(UTC)
    return AttemptEnded(
        channel_id=attempt.channel_id,
        at=now,
        first=LegReport(disposition=first),
        second=LegReport(disposition=second) if second else None,
        **kw,  # type: ignore[arg-type]
    )


def test_the_originate_rings_the_bound_number_then_the_visitor_with_ids_fixed_in_advance(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway
) -> None:
    request = _accept(enterprise)
    attempt = _place(request, gateway)
    assert attempt is not None
    [(node_name, sent)] = gateway.sent
    assert node_name == "pbx-1"
    assert sent.channel == "Local/8613800001100@huibo-outbound/n"
    assert (sent.context, sent.exten) == ("huibo-callback", "8613900001005")
    assert (sent.channel_id, sent.other_channel_id, sent.action_id) == (
        attempt.channel_id,
        attempt.other_channel_id,
        attempt.action_id,
    )
    assert sent.variables["HUIBO_ATTEMPT"] == str(attempt.pk)
    assert sent.variables["HUIBO_MAX_SECONDS"] == "3600"
    request.refresh_from_db()
    assert request.status == Status.DIALING_ENTERPRISE


def test_each_phone_shows_the_other_party(node: AsteriskNode, gateway: RecordingGateway) -> None:
    enterprise = make_enterprise("shown", caller_id="+864001234567", agent_confirmation=True)
    _place(_accept(enterprise), gateway)
    [(_node, sent)] = gateway.sent
    assert sent.caller_id == "<8613900001005>"  # the agent sees the visitor
    assert sent.variables["HUIBO_SHOWN_NUMBER"] == "864001234567"  # the visitor sees the hotline
    assert sent.variables["HUIBO_CONFIRM"] == "1"


def test_visitor_first_rings_the_visitor_first(node: AsteriskNode, gateway: RecordingGateway) -> None:
    enterprise = make_enterprise("vf", call_order="visitor_first")
    _place(_accept(enterprise), gateway)
    [(_node, sent)] = gateway.sent
    assert (sent.channel, sent.exten) == ("Local/8613900001005@huibo-outbound/n", "8613800001100")


def test_running_the_task_twice_places_one_call(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway
) -> None:
    request = _accept(enterprise)
    assert _place(request, gateway) is not None
    assert _place(request, gateway) is None
    assert len(gateway.sent) == 1
    assert CallAttempt.objects.count() == 1


def test_outside_working_hours_the_request_waits_for_the_opening(node: AsteriskNode, gateway: RecordingGateway) -> None:
    enterprise = make_enterprise("office")
    tenant_services.working_hours_replace(
        enterprise=enterprise, intervals=[tenant_services.OpeningInterval(d, time(9), time(18)) for d in range(5)]
    )
    saturday_noon_shanghai = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    request = _accept(enterprise, now=saturday_noon_shanghai)
    assert (request.status, request.reason_code) == ("scheduled", "outside_working_hours")
    assert request.due_at == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 Shanghai
    assert _place(request, gateway) is None
    assert gateway.sent == []


def test_a_visitor_number_with_ami_injection_is_refused(enterprise: Enterprise) -> None:
    with pytest.raises(InvalidPhoneNumber):
        _accept(enterprise, number="13900001005\r\nAction: Originate")
    assert not CallbackRequest.objects.exists()


def test_the_enterprise_concurrency_cap_holds_the_next_call_back(node: AsteriskNode, gateway: RecordingGateway) -> None:
    enterprise = make_enterprise("small", numbers=("+8613800001100", "+8613800001101"))
    Enterprise.objects.filter(pk=enterprise.pk).update(max_concurrent_calls=1)
    _place(_accept(enterprise, "+8613900001005"), gateway)
    second = _accept(enterprise, "+8613900001006")
    assert _place(second, gateway) is None
    second.refresh_from_db()
    assert (second.status, second.reason_code) == ("scheduled", "all_lines_busy")
    assert len(gateway.sent) == 1


def test_a_bound_number_already_on_a_call_is_skipped_without_ringing(
    node: AsteriskNode, gateway: RecordingGateway
) -> None:
    enterprise = make_enterprise("two", numbers=("+8613800001100", "+8613800001101"))
    _place(_accept(enterprise, "+8613900001005"), gateway)
    _place(_accept(enterprise, "+8613900001006"), gateway)
    assert [sent.channel for _n, sent in gateway.sent] == [
        "Local/8613800001100@huibo-outbound/n",
        "Local/8613800001101@huibo-outbound/n",
    ]


def test_an_unreachable_node_is_marked_down_and_the_call_goes_through_another(
    enterprise: Enterprise, node: AsteriskNode
) -> None:
    AsteriskNode.objects.create(name="pbx-2", host="127.0.0.2", username="huibo", secret="s")
    gateway = RecordingGateway(fail_nodes={"pbx-1"})
    request = _accept(enterprise)
    _place(request, gateway)
    assert AsteriskNode.objects.get(name="pbx-1").ami_state == "down"
    assert CallAttempt.objects.get(number=1).outcome == "node_unreachable"
    _place(request, gateway, attempt_number=2)
    assert [name for name, _sent in gateway.sent] == ["pbx-2"]
    request.refresh_from_db()
    assert request.status == Status.DIALING_ENTERPRISE


def test_with_no_node_the_request_fails_saying_so(enterprise: Enterprise, gateway: RecordingGateway) -> None:
    request = _accept(enterprise)
    _place(request, gateway)
    request.refresh_from_db()
    assert (request.status, request.reason_code) == ("failed", "no_node_available")
    assert gateway.sent == []


def test_hunting_moves_to_the_next_number_and_fails_when_all_are_busy(
    node: AsteriskNode, gateway: RecordingGateway
) -> None:
    enterprise = make_enterprise("hunt", numbers=("+8613800002000", "+8613800012000"))
    request = _accept(enterprise)
    first = _place(request, gateway)
    outcomes.attempt_ended(_ended(first, Disposition.BUSY))
    request.refresh_from_db()
    assert request.status == Status.DIALING_ENTERPRISE  # hunting goes on
    second = _place(request, gateway, attempt_number=2)
    outcomes.attempt_ended(_ended(second, Disposition.BUSY))
    request.refresh_from_db()
    assert [sent.channel for _n, sent in gateway.sent] == [
        "Local/8613800002000@huibo-outbound/n",
        "Local/8613800012000@huibo-outbound/n",
    ]
    assert (request.status, request.reason_code) == ("failed", "enterprise_busy")


def test_round_robin_spreads_calls_over_the_numbers(node: AsteriskNode, gateway: RecordingGateway) -> None:
    enterprise = make_enterprise("rr", numbers=("+8613800001100", "+8613800001101"), hunting_strategy="round_robin")
    for visitor in ("+8613900001005", "+8613900001006"):
        attempt = _place(_accept(enterprise, visitor), gateway)
        outcomes.attempt_ended(_ended(attempt, Disposition.BUSY))
    assert {sent.channel for _n, sent in gateway.sent} == {
        "Local/8613800001100@huibo-outbound/n",
        "Local/8613800001101@huibo-outbound/n",
    }


def _ring_all(slug: str, *numbers: str) -> Enterprise:
    return make_enterprise(slug, numbers=numbers, hunting_strategy="simultaneous")


def test_simultaneous_ring_rings_every_free_number_in_one_call(node: AsteriskNode, gateway: RecordingGateway) -> None:
    enterprise = _ring_all("all", "+8613800001100", "+8613800001101", "+8613800001102")
    tenant_services.bound_number_update(
        bound_number=enterprise.bound_numbers.get(number="+8613800001102"), ring_timeout_seconds=40
    )
    _place(_accept(enterprise), gateway)
    [(_node, sent)] = gateway.sent
    assert (sent.channel, sent.context, sent.exten) == ("Local/s@huibo-ringall/n", "huibo-callback", "8613900001005")
    assert sent.variables["HUIBO_RING_GROUP"] == "8613800001100-8613800001101-8613800001102"
    assert (sent.variables["HUIBO_RING_TIMEOUT"], sent.timeout_ms) == ("40", 40_000)  # the longest member's


def test_a_ringing_group_holds_its_numbers_and_a_number_on_a_call_is_left_out(
    node: AsteriskNode, gateway: RecordingGateway
) -> None:
    enterprise = _ring_all("hold", "+8613800001100", "+8613800001101")
    ringing = _place(_accept(enterprise, "+8613900001005"), gateway)
    waiting = _accept(enterprise, "+8613900001006")
    assert _place(waiting, gateway) is None
    waiting.refresh_from_db()
    assert (waiting.status, waiting.reason_code) == ("scheduled", "all_lines_busy")

    outcomes.attempt_group_member_answered(
        GroupMemberAnswered(channel_id=ringing.channel_id, digits="8613800001101", at=datetime.now(UTC))
    )
    outcomes.attempt_first_answered(FirstLegAnswered(channel_id=ringing.channel_id, at=datetime.now(UTC)))
    CallbackRequest.objects.filter(pk=waiting.pk).update(due_at=datetime.now(UTC))
    _place(waiting, gateway)
    # Only the member that took the first call is busy now; a group of one is a plain call.
    assert gateway.sent[-1][1].channel == "Local/8613800001100@huibo-outbound/n"


@pytest.mark.parametrize("answer_first", [True, False])
def test_the_member_that_answered_is_the_one_on_record(
    node: AsteriskNode, gateway: RecordingGateway, answer_first: bool
) -> None:
    enterprise = _ring_all("record", "+8613800001100", "+8613800001101")
    request = _accept(enterprise)
    attempt = _place(request, gateway)
    answered = FirstLegAnswered(channel_id=attempt.channel_id, at=datetime.now(UTC))
    member = GroupMemberAnswered(channel_id=attempt.channel_id, digits="8613800001101", at=datetime.now(UTC))
    # OriginateResponse and the ring group's DialEnd may reach the listener in either order.
    if answer_first:
        outcomes.attempt_first_answered(answered)
    outcomes.attempt_group_member_answered(member)
    if not answer_first:
        outcomes.attempt_first_answered(answered)
    outcomes.attempt_ended(_ended(attempt, Disposition.ANSWERED, Disposition.ANSWERED, connected_at=datetime.now(UTC)))
    request.refresh_from_db()
    attempt.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert request.answered_by.number == attempt.enterprise_number == "+8613800001101"
    assert dict(attempt.legs.values_list("role", "number"))["enterprise"] == "+8613800001101"


def test_a_group_where_every_phone_is_busy_fails_after_one_call(node: AsteriskNode, gateway: RecordingGateway) -> None:
    enterprise = _ring_all("allbusy", "+8613800002000", "+8613800012000")
    request = _accept(enterprise)
    attempt = _place(request, gateway)
    outcomes.attempt_ended(_ended(attempt, Disposition.BUSY))
    request.refresh_from_db()
    assert (request.status, request.reason_code, len(gateway.sent)) == ("failed", "enterprise_busy", 1)


def test_simultaneous_ring_needs_the_enterprise_called_first() -> None:
    with pytest.raises(tenant_services.TenantConfigError, match="Enterprise first"):
        make_enterprise("vfall", hunting_strategy="simultaneous", call_order="visitor_first")


def test_a_visitor_who_does_not_answer_is_called_again_later(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway
) -> None:
    request = _accept(enterprise)
    attempt = _place(request, gateway)
    outcomes.attempt_first_answered(FirstLegAnswered(channel_id=attempt.channel_id, at=datetime.now(UTC)))
    outcomes.attempt_ended(_ended(attempt, Disposition.ANSWERED, Disposition.NO_ANSWER))
    request.refresh_from_db()
    assert (request.status, request.reason_code, request.visitor_retries_left) == ("scheduled", "visitor_retry", 0)
    assert request.due_at > datetime.now(UTC) + timedelta(seconds=100)


def test_a_call_seen_connected_completes_though_its_end_is_reported_without_the_connect(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway
) -> None:
    # given a call the listener saw connected, whose end Asterisk reports without the connect (the listener
    # restarted in between and followed the call from its channels only)
    request = _accept(enterprise)
    attempt = _place(request, gateway)
    outcomes.attempt_first_answered(FirstLegAnswered(channel_id=attempt.channel_id, at=datetime.now(UTC)))
    outcomes.attempt_connected(Connected(channel_id=attempt.channel_id, at=datetime.now(UTC)))
    # when
    ended = outcomes.attempt_ended(_ended(attempt, Disposition.ANSWERED, Disposition.ANSWERED))
    # then
    attempt.refresh_from_db()
    request.refresh_from_db()
    assert ended is True
    assert (attempt.status, attempt.outcome, attempt.connected_at is not None) == ("ended", "connected", True)
    assert request.status == Status.COMPLETED


def test_a_call_cut_at_its_time_limit_says_so(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway
) -> None:
    # given: Asterisk hangs up max_seconds after the enterprise answered; the visitor answered 15 s after that
    attempt = _place(_accept(enterprise), gateway)
    ended_at = datetime.now(UTC)
    answered_at = ended_at - timedelta(seconds=attempt.max_seconds)
    outcomes.attempt_first_answered(FirstLegAnswered(channel_id=attempt.channel_id, at=answered_at))
    outcomes.attempt_connected(Connected(channel_id=attempt.channel_id, at=answered_at + timedelta(seconds=15)))
    # when
    outcomes.attempt_ended(
        AttemptEnded(
            channel_id=attempt.channel_id,
            at=ended_at,
            first=LegReport(disposition=Disposition.ANSWERED),
            second=LegReport(disposition=Disposition.ANSWERED),
        )
    )
    # then
    attempt.request.refresh_from_db()
    assert (attempt.request.status, attempt.request.reason_code) == ("completed", "max_duration_reached")


def test_a_replayed_event_changes_nothing(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway
) -> None:
    request = _accept(enterprise)
    attempt = _place(request, gateway)
    answered = FirstLegAnswered(channel_id=attempt.channel_id, at=datetime.now(UTC))
    connected = Connected(channel_id=attempt.channel_id, at=datetime.now(UTC))
    ended = _ended(attempt, Disposition.ANSWERED, Disposition.ANSWERED, connected_at=datetime.now(UTC))
    assert [outcomes.attempt_first_answered(answered), outcomes.attempt_connected(connected)] == [True, True]
    assert outcomes.attempt_ended(ended) is True
    events_before = request.events.count()
    assert [
        outcomes.attempt_first_answered(answered),
        outcomes.attempt_connected(connected),
        outcomes.attempt_ended(ended),
    ] == [False, False, False]
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert request.events.count() == events_before


def test_the_reaper_ends_an_attempt_asterisk_never_reported_on(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway
) -> None:
    request = _accept(enterprise)
    attempt = _place(request, gateway)
    later = attempt.originate_sent_at + timedelta(minutes=10)
    assert outcomes.attempts_reap(now=later) == 1
    request.refresh_from_db()
    assert (request.status, request.reason_code) == ("failed", "originate_lost")


@pytest.mark.parametrize("agent_confirms, confirm_seconds", [(False, 0), (True, 10)])
def test_a_silent_attempt_is_reaped_once_its_own_ring_time_and_the_grace_are_over(
    enterprise: Enterprise,
    node: AsteriskNode,
    gateway: RecordingGateway,
    settings: Any,
    agent_confirms: bool,
    confirm_seconds: int,
) -> None:
    # given an attempt whose phones ring at most 20 s, the agent's confirmation, then 30 s; Asterisk says nothing
    settings.CALLBACK_SECOND_LEG_TIMEOUT_SECONDS = 30
    enterprise.ring_timeout_seconds = 20
    enterprise.agent_confirmation = agent_confirms
    enterprise.save()
    attempt = _place(_accept(enterprise), gateway)
    assert attempt is not None and attempt.originate_sent_at is not None
    over = attempt.originate_sent_at + timedelta(seconds=20 + confirm_seconds + 30 + 60)
    # then it is left alone while a phone may still ring, and ended right after (R2: dial timeout + 60 s)
    assert outcomes.attempts_reap(now=over - timedelta(seconds=1), grace_seconds=60) == 0
    assert outcomes.attempts_reap(now=over + timedelta(seconds=1), grace_seconds=60) == 1


def test_every_transition_is_stored_with_its_cause(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway
) -> None:
    request = _accept(enterprise)
    attempt = _place(request, gateway)
    outcomes.attempt_ended(_ended(attempt, Disposition.NO_ANSWER))
    history = list(request.events.values_list("from_status", "to_status", "reason_code"))
    assert history == [
        ("", "accepted", ""),
        ("accepted", "dialing_enterprise", ""),
        ("dialing_enterprise", "failed", "enterprise_no_answer"),
    ]


def test_a_visitor_retry_spaced_beyond_the_longest_wait_is_dialled_not_expired(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway, settings, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given: retries 20 minutes apart, and requests that may wait 15 minutes for a free line
    settings.CALLBACK_MAX_WAIT_SECONDS = 900
    Enterprise.objects.filter(pk=enterprise.pk).update(visitor_retry_spacing_seconds=1200)
    request = _accept(enterprise)
    attempt = _place(request, gateway)
    outcomes.attempt_first_answered(FirstLegAnswered(channel_id=attempt.channel_id, at=datetime.now(UTC)))
    outcomes.attempt_ended(_ended(attempt, Disposition.ANSWERED, Disposition.NO_ANSWER))
    # when the retry falls due
    with django_capture_on_commit_callbacks() as queued:
        requests.requests_dispatch_due(now=datetime.now(UTC) + timedelta(seconds=1201))
    # then it is placed, not expired as "waited too long"
    request.refresh_from_db()
    assert (request.status, request.reason_code) == ("scheduled", "visitor_retry")
    assert len(queued) == 1


def test_a_request_waiting_for_a_free_line_expires_after_the_longest_wait(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway, settings
) -> None:  # type: ignore[no-untyped-def]
    # given: the enterprise's only line is taken, so the next request waits for it
    settings.CALLBACK_MAX_WAIT_SECONDS = 900
    Enterprise.objects.filter(pk=enterprise.pk).update(max_concurrent_calls=1)
    _place(_accept(enterprise, "+8613900001005"), gateway)
    waiting = _accept(enterprise, "+8613900001006")
    assert _place(waiting, gateway) is None
    waiting.refresh_from_db()
    assert (waiting.status, waiting.reason_code) == ("scheduled", "all_lines_busy")
    # when the longest wait has passed
    requests.requests_dispatch_due(now=datetime.now(UTC) + timedelta(seconds=901))
    # then
    waiting.refresh_from_db()
    assert (waiting.status, waiting.reason_code) == ("expired", "waited_too_long")


def test_a_request_placed_after_waiting_for_a_free_line_no_longer_says_it_waits(
    enterprise: Enterprise, node: AsteriskNode, gateway: RecordingGateway
) -> None:
    # given a request that waited for the enterprise's only line
    Enterprise.objects.filter(pk=enterprise.pk).update(max_concurrent_calls=1)
    first = _place(_accept(enterprise, "+8613900001005"), gateway)
    waiting = _accept(enterprise, "+8613900001006")
    _place(waiting, gateway)
    waiting.refresh_from_db()
    assert waiting.reason_code == "all_lines_busy"
    # when the line is free (the first call over) and its time has come
    CallAttempt.objects.filter(pk=first.pk).update(status=CallAttempt.Status.ENDED)
    placement.attempt_place(
        request_id=waiting.pk, attempt_number=1, gateway=gateway, now=waiting.due_at + timedelta(seconds=1)
    )
    # then
    waiting.refresh_from_db()
    assert (waiting.status, waiting.reason_code) == ("dialing_enterprise", "")


def test_a_request_whose_queued_task_was_lost_is_queued_again(
    enterprise: Enterprise, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given: an accepted request whose place task vanished with a Redis restart a minute ago
    request = _accept(enterprise)
    CallbackRequest.objects.filter(pk=request.pk).update(due_at=datetime.now(UTC) - timedelta(minutes=1))
    # when
    with django_capture_on_commit_callbacks() as queued:
        requests.requests_dispatch_due()
    # then
    assert len(queued) == 1


def test_a_request_placed_a_moment_ago_is_not_queued_twice(
    enterprise: Enterprise, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    _accept(enterprise)
    with django_capture_on_commit_callbacks() as queued:
        requests.requests_dispatch_due()
    assert queued == []
