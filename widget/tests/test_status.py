"""What a visitor sees of their request: phases in words the widget can say, public reasons only, SSE."""

import json

import pytest
from django.test.utils import override_settings

from callback.models import CallbackRequest
from callback.reasons import Reason
from callback.services.requests import request_cancel, request_transition
from callback.statemachine import Event
from tenants.models import Enterprise
from widget import selectors
from widget.tests.conftest import WidgetClient

pytestmark = pytest.mark.django_db


def status_after(shop: Enterprise, *moves: tuple[Event, Reason | None]) -> dict[str, object]:
    api = WidgetClient(shop)
    request_id = api.submit().json()["request_id"]
    request = CallbackRequest.objects.get(correlation_id=request_id)
    for event, reason in moves:
        assert request_transition(request=request, event=event, reason=reason)
    return api.status(request_id).json()


def test_the_visitor_follows_the_call_through_its_phases(shop: Enterprise) -> None:
    assert status_after(shop, (Event.PLACE, None))["phase"] == "calling_team"
    assert status_after_more(shop) == ["calling_team", "calling_you", "calling_you", "connected", "completed"]


def status_after_more(shop: Enterprise) -> list[str]:
    api = WidgetClient(shop)
    request_id = api.submit("13900001006").json()["request_id"]
    request = CallbackRequest.objects.get(correlation_id=request_id)
    phases = []
    for event in (Event.PLACE, Event.FIRST_ANSWERED, Event.SECOND_DIALING, Event.SECOND_ANSWERED, Event.HANG_UP):
        reason = Reason.COMPLETED_VISITOR_HUNG_UP if event is Event.HANG_UP else None
        request_transition(request=request, event=event, reason=reason)
        phases.append(api.status(request_id).json()["phase"])
    return phases


def test_busy_lines_say_when_we_call_back(shop: Enterprise) -> None:
    body = status_after(shop, (Event.SCHEDULE, Reason.ALL_LINES_BUSY))
    assert (body["phase"], body["reason_code"], body["final"]) == ("team_busy", "all_lines_busy", False)
    assert body["due_at"] is not None


def test_a_visitor_who_did_not_answer_is_told_so(shop: Enterprise) -> None:
    body = status_after(shop, (Event.PLACE, None), (Event.FAIL, Reason.VISITOR_NO_ANSWER))
    assert (body["phase"], body["reason_code"], body["reason"], body["final"]) == (
        "not_reached",
        "visitor_no_answer",
        "You did not answer.",
        True,
    )


@pytest.mark.parametrize("reason", [Reason.NODE_LOST, Reason.ASTERISK_RESTARTED, Reason.BALANCE_EXHAUSTED])
def test_internal_reasons_are_never_shown(shop: Enterprise, reason: Reason) -> None:
    body = status_after(shop, (Event.PLACE, None), (Event.FAIL, reason))
    assert (body["phase"], body["reason_code"]) == ("failed", "service_unavailable")
    assert body["reason"] == "A technical problem stopped the call."


def test_the_status_answers_in_chinese(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    request_id = api.submit().json()["request_id"]
    request_cancel(request=CallbackRequest.objects.get())
    response = api.client.get(f"{api.base}/requests/{request_id}?lang=zh-hans", HTTP_ORIGIN=api.origin)
    assert response["Content-Language"] == "zh-hans"


@override_settings(WIDGET_SSE_MAX_SECONDS=5)
def test_server_sent_events_end_with_the_final_status(shop: Enterprise) -> None:
    # given
    api = WidgetClient(shop)
    request_id = api.submit().json()["request_id"]
    request_cancel(request=CallbackRequest.objects.get())
    # when
    response = api.client.get(f"{api.base}/requests/{request_id}/events", HTTP_ORIGIN=api.origin)
    stream = b"".join(response.streaming_content).decode()
    # then
    assert response["Content-Type"] == "text/event-stream"
    assert response["Access-Control-Allow-Origin"] == api.origin
    events = [chunk for chunk in stream.split("\n\n") if chunk.startswith("event: status")]
    assert len(events) == 1
    assert json.loads(events[0].split("data: ", 1)[1])["phase"] == "cancelled"


@override_settings(WIDGET_SSE_MAX_SECONDS=0)
def test_server_sent_events_stop_when_their_time_is_up(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    request_id = api.submit().json()["request_id"]
    response = api.client.get(f"{api.base}/requests/{request_id}/events", HTTP_ORIGIN=api.origin)
    stream = b"".join(response.streaming_content).decode()
    assert stream.startswith("retry: ")
    assert stream.count("event: status") == 1


def test_an_unknown_request_id_is_not_found(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    assert api.status("00000000-0000-4000-8000-000000000000").status_code == 404
    widget = selectors.widget_by_public_key(public_key=shop.public_key)
    assert widget is not None
    assert selectors.visitor_status(widget=widget, public_id="not-a-uuid") is None
