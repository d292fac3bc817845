"""Every callback scenario through the real path: Celery worker, Redis broker, PostgreSQL, AMI listener, and
the PBX simulator over TCP. Each ends in the right final state with the right reason; none is left hanging.

Phones behave by their last four digits (asterisk/simulator): 10XX answers after 1 s and talks XX s, 1100
answers and stays up, 2000 is busy, 3000 never answers, 4000 is congested, 0601 is unallocated, anything
else answers after 2 s.
"""

import threading

import pytest

from callback import tasks
from callback.models import AsteriskNode, CallAttempt, CallLeg
from callback.services import nodes as node_services
from conftest import make_enterprise
from tenants.models import Enterprise
from tenants.phone import InvalidPhoneNumber
from tests.conftest import Engine, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _enterprise(*numbers: str, **settings: object) -> Enterprise:
    enterprise = make_enterprise(f"e2e-{len(numbers)}-{numbers[0][-6:]}", numbers=numbers)
    Enterprise.objects.filter(pk=enterprise.pk).update(
        **{"ring_timeout_seconds": 5, "visitor_retries": 0, "visitor_retry_spacing_seconds": 1, **settings}
    )
    enterprise.refresh_from_db()
    return enterprise


def _legs(request) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    legs: dict[str, list[str]] = {}
    for leg in CallLeg.objects.filter(attempt__request=request).order_by("attempt__number"):
        legs.setdefault(leg.role, []).append(leg.disposition)
    return legs


def test_both_answer_and_the_visitor_hangs_up_first(engine: Engine) -> None:
    """The bound number answers and stays up; the visitor answers, talks 2 s and hangs up."""
    request = engine.submit(_enterprise("+8613800001100"), "+8613900001002")
    request = engine.wait_final(request)
    assert (request.status, request.reason_code) == ("completed", "visitor_hung_up")
    assert _legs(request) == {"enterprise": ["answered"], "visitor": ["answered"]}
    history = list(request.events.values_list("to_status", flat=True))
    assert history == [
        "accepted",
        "dialing_enterprise",
        "enterprise_answered",
        "dialing_visitor",
        "connected",
        "completed",
    ]


def test_both_answer_and_the_enterprise_hangs_up_first(engine: Engine) -> None:
    request = engine.wait_final(engine.submit(_enterprise("+8613800001003"), "+8613900001100"))
    assert (request.status, request.reason_code) == ("completed", "enterprise_hung_up")


def test_a_busy_bound_number_is_skipped_for_the_next_one(engine: Engine) -> None:
    request = engine.wait_final(engine.submit(_enterprise("+8613800002000", "+8613800011100"), "+8613900001002"))
    assert (request.status, request.reason_code) == ("completed", "visitor_hung_up")
    assert _legs(request)["enterprise"] == ["busy", "answered"]


@pytest.mark.parametrize(
    ("numbers", "reason", "dispositions"),
    [
        (("+8613800002000", "+8613800012000"), "enterprise_busy", ["busy", "busy"]),
        (("+8613800003000",), "enterprise_no_answer", ["no_answer"]),
        (("+8613800004000",), "enterprise_unreachable", ["congestion"]),
    ],
)
def test_when_no_bound_number_can_take_the_call_the_request_fails_saying_why(
    engine: Engine, numbers: tuple[str, ...], reason: str, dispositions: list[str]
) -> None:
    request = engine.wait_final(engine.submit(_enterprise(*numbers), "+8613900001002"))
    assert (request.status, request.reason_code) == ("failed", reason)
    assert _legs(request) == {"enterprise": dispositions}


@pytest.mark.parametrize(
    ("visitor", "reason", "disposition"),
    [("+8613900002000", "visitor_busy", "busy"), ("+8613900003000", "visitor_no_answer", "no_answer")],
)
def test_a_visitor_who_cannot_answer_is_retried_then_the_request_fails(
    engine: Engine, visitor: str, reason: str, disposition: str
) -> None:
    request = engine.submit(_enterprise("+8613800001100", visitor_retries=1), visitor)
    request = engine.wait_final(request, timeout=45)
    assert (request.status, request.reason_code) == ("failed", reason)
    assert _legs(request)["visitor"] == [disposition, disposition]  # the first try and one retry


def test_an_unallocated_visitor_number_fails_without_retry(engine: Engine) -> None:
    request = engine.submit(_enterprise("+8613800001100", visitor_retries=2), "+8613900000601")
    request = engine.wait_final(request)
    assert (request.status, request.reason_code) == ("failed", "visitor_unreachable")
    assert CallAttempt.objects.filter(request=request).count() == 1


def test_an_invalid_visitor_number_never_becomes_a_request(engine: Engine) -> None:
    with pytest.raises(InvalidPhoneNumber):
        engine.submit(_enterprise("+8613800001100"), "+86 139")
    assert engine.originates() == 0


def test_with_no_reachable_node_the_request_fails_saying_so(engine: Engine) -> None:
    # given: the only node points at a port nothing listens on
    engine.node.port = 1
    engine.node.save()
    request = engine.wait_final(engine.submit(_enterprise("+8613800001100"), "+8613900001002"))
    assert (request.status, request.reason_code) == ("failed", "no_node_available")
    engine.node.refresh_from_db()
    assert engine.node.ami_state == "down"


def test_a_node_a_worker_could_not_reach_is_back_in_service_while_the_listener_reaches_it(engine: Engine) -> None:
    # given: a worker's own link failed (a blip on its side) and it took the node out
    node_services.node_mark_down(node=engine.node, reason="worker: login timed out")
    # when the listener's next look at its nodes finds its own link up, then
    wait_for(lambda: AsteriskNode.objects.filter(pk=engine.node.pk, ami_state="up").exists(), 5, "the node back up")
    request = engine.wait_final(engine.submit(_enterprise("+8613800001100"), "+8613900001002"))
    assert (request.status, request.reason_code) == ("completed", "visitor_hung_up")


def test_a_duplicated_task_places_one_call(engine: Engine) -> None:
    request = engine.submit(_enterprise("+8613800001100"), "+8613900001002")
    # Celery redelivery: the same task twice more, at the same time.
    threads = [threading.Thread(target=tasks.place_attempt, args=(request.pk, 1)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    request = engine.wait_final(request)
    assert request.status == "completed"
    assert engine.originates() == 1


def test_a_call_survives_a_dropped_ami_link_and_is_followed_to_its_end(engine: Engine) -> None:
    request = engine.submit(_enterprise("+8613800001100"), "+8613900001030")  # talks 30 s (1.5 s here)
    wait_for(lambda: request.events.filter(to_status="connected").exists(), 10, "the call to connect")
    engine.pbx.drop_connections()
    request = engine.wait_final(request)
    assert (request.status, request.reason_code) == ("completed", "visitor_hung_up")


def test_a_call_that_vanished_while_the_link_was_down_is_closed(engine: Engine) -> None:
    request = engine.submit(_enterprise("+8613800001100"), "+8613900001100")
    wait_for(lambda: request.events.filter(to_status="connected").exists(), 10, "the call to connect")
    # Asterisk crashes and is back at once: too soon for its Uptime to tell; its channel list does.
    engine.pbx.crash(down_seconds=1)
    request = engine.wait_final(request)
    assert request.status == "completed"
    assert request.reason_code in {"node_lost", "asterisk_restarted"}


def test_an_asterisk_restart_mid_call_ends_the_request_with_that_reason(engine: Engine) -> None:
    request = engine.submit(_enterprise("+8613800001100"), "+8613900001100")  # both stay up
    wait_for(lambda: request.events.filter(to_status="connected").exists(), 10, "the call to connect")
    engine.pbx.restart()
    request = engine.wait_final(request)
    assert (request.status, request.reason_code) == ("completed", "asterisk_restarted")


def test_a_node_lost_mid_call_ends_the_request_once_it_is_back(engine: Engine) -> None:
    request = engine.submit(_enterprise("+8613800001100"), "+8613900001100")
    wait_for(lambda: request.events.filter(to_status="connected").exists(), 10, "the call to connect")
    # The process dies: no hangups, no goodbye. It is back 3 s later (60 s compressed) with a new Uptime.
    engine.pbx.crash(down_seconds=60)
    request = engine.wait_final(request)
    assert (request.status, request.reason_code) == ("completed", "asterisk_restarted")


def test_an_agent_who_does_not_press_1_passes_the_call_to_the_next_number(engine: Engine) -> None:
    """Agent confirmation: the first agent (…1300) answers but never presses 1; the next (…1030) presses 1."""
    enterprise = _enterprise("+8613800001300", "+8613800011030", agent_confirmation=True)
    request = engine.wait_final(engine.submit(enterprise, "+8613900001002"), timeout=45)
    assert (request.status, request.reason_code) == ("completed", "visitor_hung_up")
    assert _legs(request) == {"enterprise": ["answered", "answered"], "visitor": ["not_dialled", "answered"]}


def test_simultaneous_ring_gives_the_call_to_the_first_phone_that_answers(engine: Engine) -> None:
    """One call rings three phones at once: …3000 never answers, …1100 answers after 1 s, …5555 after 2 s."""
    enterprise = _enterprise("+8613800003000", "+8613800001100", "+8613800005555", hunting_strategy="simultaneous")
    request = engine.wait_final(engine.submit(enterprise, "+8613900001002"))
    assert (request.status, request.reason_code) == ("completed", "visitor_hung_up")
    assert request.answered_by.number == "+8613800001100"
    [leg] = CallLeg.objects.filter(attempt__request=request, role="enterprise")
    assert (leg.number, leg.disposition) == ("+8613800001100", "answered")
    assert engine.originates() == 1


def test_simultaneous_ring_with_every_phone_busy_fails_after_one_call(engine: Engine) -> None:
    enterprise = _enterprise("+8613800002000", "+8613800012000", hunting_strategy="simultaneous")
    request = engine.wait_final(engine.submit(enterprise, "+8613900001002"))
    assert (request.status, request.reason_code) == ("failed", "enterprise_busy")
    assert _legs(request) == {"enterprise": ["busy"]}


def test_a_recorded_call_leaves_a_recording_its_cdr_points_to(engine: Engine, settings) -> None:  # type: ignore[no-untyped-def]
    from cdr import services as cdr_services
    from cdr.models import CallSummary

    enterprise = _enterprise("+8613800001100")
    cdr_services.recording_set(enterprise=enterprise, enabled=True)
    request = engine.wait_final(engine.submit(enterprise, "+8613900001002"))
    assert request.status == "completed"
    summary = wait_for(
        lambda: CallSummary.objects.filter(callback_request_id=request.pk).exclude(recording_file="").first(),
        15,
        "the CDR hand-off",
    )
    recording = settings.CDR_RECORDINGS_DIR / summary.recording_file  # type: ignore[union-attr]
    assert recording.read_bytes()[:4] == b"RIFF"


def test_a_request_whose_task_was_lost_with_redis_still_gets_its_call(engine: Engine) -> None:
    """Redis keeps nothing on disk here: a restart loses queued tasks. The request itself is in PostgreSQL."""
    from datetime import timedelta

    from django.utils import timezone

    from callback.models import CallbackRequest

    enterprise = _enterprise("+8613800001100")
    a_minute_ago = timezone.now() - timedelta(minutes=1)
    request = CallbackRequest.objects.create(  # accepted, and its place task gone
        enterprise=enterprise,
        visitor_number="+8613900001002",
        call_order="enterprise_first",
        due_at=a_minute_ago,
        expires_at=a_minute_ago + timedelta(minutes=15),
    )
    request = engine.wait_final(request)
    assert (request.status, request.reason_code) == ("completed", "visitor_hung_up")
