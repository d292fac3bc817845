"""Outside working hours the visitor picks one of the next open times, and is called then, never earlier."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from callback.models import CallbackRequest
from callback.services.requests import requests_dispatch_due
from tenants import services as tenant_services
from tenants.models import Enterprise
from widget.tests.conftest import WidgetClient, captcha_answer

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def closed_shop(shop: Enterprise) -> Enterprise:
    """Closed now, open 09:00–18:00 (Shanghai) on one day three days from now."""
    weekday = (datetime.now(SHANGHAI).date() + timedelta(days=3)).weekday()
    tenant_services.working_hours_replace(
        enterprise=shop, intervals=[tenant_services.OpeningInterval(weekday, time(9), time(18))]
    )
    return shop


def test_the_visitor_picks_an_offered_time_and_the_request_waits_for_it(closed_shop: Enterprise) -> None:
    # given: the times the widget offers
    api = WidgetClient(closed_shop)
    config = api.config().json()
    slots = [datetime.fromisoformat(slot) for slot in config["call_slots"]]
    assert config["time_zone"] == "Asia/Shanghai"
    assert [slot.astimezone(SHANGHAI).hour for slot in slots] == [9, 10, 11, 12, 13, 14]
    chosen = slots[2]
    # when the visitor picks 11:00
    response = api.submit(call_at=config["call_slots"][2])
    # then the request is scheduled for 11:00, and the dispatcher leaves it alone at 09:00 but starts it at 11:00
    body = response.json()
    assert (response.status_code, body["phase"], body["status"]) == (201, "scheduled", "scheduled")
    assert (body["reason_code"], body["reason"]) == ("time_chosen", "我们将在您选择的时间给您回电。")
    assert datetime.fromisoformat(body["due_at"]) == chosen
    request = CallbackRequest.objects.get()
    assert (request.status, request.due_at) == ("scheduled", chosen)
    assert requests_dispatch_due(now=slots[0]) == 0
    assert requests_dispatch_due(now=chosen) == 1


def test_a_time_outside_working_hours_is_refused_and_the_captcha_still_serves(closed_shop: Enterprise) -> None:
    # given
    api = WidgetClient(closed_shop)
    first = datetime.fromisoformat(api.config().json()["call_slots"][0])
    captcha = api.new_captcha()
    # when the visitor asks for 07:00 that day, then for 09:00 with the same captcha
    early = api.submit(
        call_at=(first - timedelta(hours=2)).isoformat(), captcha=captcha, answer=captcha_answer(captcha)
    )
    retried = api.submit(call_at=first.isoformat(), captcha=captcha, answer=captcha_answer(captcha))
    # then the first is refused with its own code and the second is taken
    assert (early.status_code, early.json()["code"], early.json()["extra"]) == (
        400,
        "call_time_unavailable",
        {"reason": "closed"},
    )
    assert early.json()["message"]
    assert retried.status_code == 201
    assert CallbackRequest.objects.get().due_at == first


@pytest.mark.parametrize(("shift", "reason"), [(timedelta(days=-7), "past"), (timedelta(days=7), "too_far")])
def test_a_time_gone_or_beyond_a_week_is_refused(closed_shop: Enterprise, shift: timedelta, reason: str) -> None:
    # given: 09:00 on the open day a week earlier (over) or a week later (beyond WIDGET_CALL_AT_MAX_DAYS)
    api = WidgetClient(closed_shop)
    first = datetime.fromisoformat(api.config().json()["call_slots"][0])
    # when
    response = api.submit(call_at=(first + shift).isoformat())
    # then
    assert (response.status_code, response.json()["code"], response.json()["extra"]) == (
        400,
        "call_time_unavailable",
        {"reason": reason},
    )
    assert not CallbackRequest.objects.exists()


def test_open_now_the_widget_offers_no_times(shop: Enterprise) -> None:
    config = WidgetClient(shop).config().json()
    assert (config["open_now"], config["call_slots"]) == (True, [])
