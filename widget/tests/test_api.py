"""The public widget API, path by path: the happy path and every way it refuses.

For each refusal: the distinct code and HTTP status, a message for the visitor that names no internal check,
an abuse-log entry, and nothing created (no callback request, no lead).
"""

import json
from decimal import Decimal

import pytest
from django.test.utils import override_settings

from billing import services as billing_services
from callback.models import CallbackRequest
from callback.services.requests import request_cancel
from tenants import services as tenant_services
from tenants.models import Enterprise
from widget import services
from widget.models import AbuseEvent, BlacklistEntry, Lead, WidgetPolicy
from widget.store import get_store, key
from widget.tests.conftest import SHOP, WidgetClient, captcha_answer, widget_enterprise

pytestmark = pytest.mark.django_db

INTERNAL_WORDS = ("limit", "blacklist", "honeypot", "redis", "captcha_key", "spend", "traceback", "policy")


def assert_refused(response, code: str, status: int) -> None:  # type: ignore[no-untyped-def]
    body = response.json()
    assert (response.status_code, body["code"]) == (status, code), body
    assert body["message"] and not any(word in body["message"].lower() for word in INTERNAL_WORDS)
    assert not CallbackRequest.objects.exists()
    assert not Lead.objects.exists()
    assert AbuseEvent.objects.filter(code=code).count() == 1


def cancel_all() -> None:
    """The visitor's earlier requests ended (so that only the limit under test can refuse the next one)."""
    for request in CallbackRequest.objects.filter(status__in=["accepted", "scheduled"]):
        request_cancel(request=request)


# -- the happy path --------------------------------------------------------------------------------------------


def test_a_solved_captcha_and_a_valid_number_make_a_callback_request_with_its_lead(shop: Enterprise) -> None:
    # given
    api = WidgetClient(shop)
    # when
    response = api.submit("139 0000 1005")
    # then
    body = response.json()
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == SHOP
    request = CallbackRequest.objects.get()
    assert (request.visitor_number, request.source, request.enterprise) == ("+8613900001005", "widget", shop)
    assert body == {
        "code": "accepted",
        "duplicate": False,
        "request_id": str(request.correlation_id),
        "phase": "calling_team",
        "status": "accepted",
        "reason_code": "",
        "reason": "",
        "final": False,
        "due_at": None,
    }
    lead = Lead.objects.get()
    assert (lead.enterprise, lead.callback_request) == (shop, request)
    assert lead.page_url == "https://shop.example.com/pricing?utm_source=baidu&utm_campaign=spring"
    assert (lead.utm_source, lead.utm_campaign, lead.utm_medium) == ("baidu", "spring", "")
    assert (lead.referrer, lead.user_agent, lead.language) == (
        "https://www.baidu.com/s?wd=callback",
        "Mozilla/5.0 (test)",
        "zh-CN",
    )
    assert not AbuseEvent.objects.exists()


def test_the_status_of_a_request_is_readable_with_its_public_id(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    request_id = api.submit().json()["request_id"]
    response = api.status(request_id)
    assert response.status_code == 200
    assert response.json()["phase"] == "calling_team"
    assert response["Access-Control-Allow-Origin"] == SHOP


def test_another_tenants_key_cannot_read_a_request(shop: Enterprise) -> None:
    # given
    request_id = WidgetClient(shop).submit().json()["request_id"]
    other = widget_enterprise("globex", numbers=("+8613900001100",))
    # when
    response = WidgetClient(other).status(request_id)
    # then
    assert response.status_code == 404
    assert "phase" not in response.json()


def test_config_tells_the_widget_its_looks_countries_and_hours(shop: Enterprise) -> None:
    services.widget_settings_update(enterprise=shop, title="立即回拨", primary_color="#0055aa", language="zh-hans")
    response = WidgetClient(shop).config()
    body = response.json()
    assert response.status_code == 200
    assert (body["version"], body["language"], body["texts"]["title"]) == (1, "zh-hans", "立即回拨")
    assert body["appearance"]["primary_color"] == "#0055aa"
    assert body["countries"] == [{"code": "CN", "calling_code": 86}]
    assert body["open_now"] is True


def test_the_script_is_served_for_a_known_key_only(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    script = api.client.get(f"/widget/{shop.public_key}.js")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("text/javascript")
    assert b"attachShadow" in script.content
    assert api.client.get("/widget/not-a-key.js").status_code == 404


# -- origin ----------------------------------------------------------------------------------------------------


def test_a_page_on_a_website_not_allowed_is_refused(shop: Enterprise) -> None:
    api = WidgetClient(shop, origin="https://evil.example.net")
    captcha = WidgetClient(shop).new_captcha()
    response = api.submit(captcha=captcha, answer=captcha_answer(captcha))
    assert_refused(response, "origin_not_allowed", 403)
    # The refused page may read why, so the widget can say so.
    assert response["Access-Control-Allow-Origin"] == "https://evil.example.net"


def test_a_submission_without_an_origin_is_refused(shop: Enterprise) -> None:
    captcha = WidgetClient(shop).new_captcha()
    response = WidgetClient(shop, origin="").submit(captcha=captcha, answer=captcha_answer(captcha))
    assert_refused(response, "origin_not_allowed", 403)


def test_config_and_captchas_answer_allowed_origins_only(shop: Enterprise) -> None:
    evil = WidgetClient(shop, origin="https://evil.example.net")
    config = evil.config()
    captcha = evil.client.post(f"{evil.base}/captcha", HTTP_ORIGIN="https://evil.example.net")
    assert (config.status_code, config.json()["code"]) == (403, "origin_not_allowed")
    assert (captcha.status_code, captcha.json()["code"]) == (403, "origin_not_allowed")


def test_a_wildcard_origin_allows_subdomains(db: None) -> None:
    enterprise = widget_enterprise("wild", origins=("https://*.example.org",))
    assert WidgetClient(enterprise, origin="https://www.example.org").config().status_code == 200
    assert WidgetClient(enterprise, origin="https://example.org").config().status_code == 403


def test_a_preflight_from_an_allowed_origin_is_answered(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    response = api.client.options(f"{api.base}/requests", HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert "Content-Type" in response["Access-Control-Allow-Headers"]


# -- captcha ---------------------------------------------------------------------------------------------------


def test_a_wrong_captcha_answer_is_refused(shop: Enterprise) -> None:
    response = WidgetClient(shop).submit(answer="wrong")
    assert_refused(response, "captcha_invalid", 400)


def test_a_captcha_is_used_up_by_its_first_answer(shop: Enterprise) -> None:
    # given
    api = WidgetClient(shop)
    captcha = api.new_captcha()
    answer = captcha_answer(captcha)
    assert api.submit("13900001005", captcha=captcha, answer=answer).status_code == 201
    # when
    response = api.submit("13900001006", captcha=captcha, answer=answer)
    # then
    assert (response.status_code, response.json()["code"]) == (400, "captcha_invalid")
    assert CallbackRequest.objects.count() == 1


def test_a_wrong_answer_uses_the_captcha_up_too(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    captcha = api.new_captcha()
    answer = captcha_answer(captcha)
    api.submit(captcha=captcha, answer="nope")
    assert api.submit(captcha=captcha, answer=answer).json()["code"] == "captcha_invalid"
    assert not CallbackRequest.objects.exists()


def test_a_captcha_lives_five_minutes_at_most(shop: Enterprise) -> None:
    captcha = WidgetClient(shop).new_captcha()
    ttl = get_store().client.ttl(key("captcha", captcha))  # type: ignore[attr-defined]
    assert 0 < ttl <= 300


def test_an_expired_captcha_is_refused(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    captcha = api.new_captcha()
    answer = captcha_answer(captcha)
    get_store().client.delete(key("captcha", captcha))  # type: ignore[attr-defined]  # what the TTL does
    assert_refused(api.submit(captcha=captcha, answer=answer), "captcha_invalid", 400)


def test_the_captcha_picture_is_a_png_until_the_captcha_is_used(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    captcha = api.new_captcha()
    picture = api.client.get(f"/api/widget/v1/captcha/{captcha}.png")
    double = api.client.get(f"/api/widget/v1/captcha/{captcha}@2x.png")
    assert (picture.status_code, picture["Content-Type"]) == (200, "image/png")
    assert picture.content.startswith(b"\x89PNG") and len(double.content) > len(picture.content)
    api.submit(captcha=captcha)
    assert api.client.get(f"/api/widget/v1/captcha/{captcha}.png").status_code == 410


@override_settings(WIDGET_CAPTCHA_TEST_MODE=True)
def test_test_mode_accepts_passed_but_still_once(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    captcha = api.new_captcha()
    assert api.submit(captcha=captcha, answer="PASSED").status_code == 201
    assert api.submit("13900001006", captcha=captcha, answer="PASSED").json()["code"] == "captcha_invalid"


def test_without_test_mode_passed_is_just_a_wrong_answer(shop: Enterprise) -> None:
    assert_refused(WidgetClient(shop).submit(answer="PASSED"), "captcha_invalid", 400)


@override_settings(ABUSE_CLIENT_CAPTCHAS_PER_MINUTE=2)
def test_a_client_asking_for_too_many_captchas_is_refused(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    api.new_captcha()
    api.new_captcha()
    response = api.client.post(f"{api.base}/captcha", HTTP_ORIGIN=SHOP, REMOTE_ADDR=api.ip)
    assert (response.status_code, response.json()["code"]) == (429, "captcha_limit")
    assert AbuseEvent.objects.filter(code="captcha_limit").count() == 1


# -- the form --------------------------------------------------------------------------------------------------


def test_a_filled_in_honeypot_is_refused(shop: Enterprise) -> None:
    assert_refused(WidgetClient(shop).submit(website="http://spam.example"), "spam_suspected", 400)


def test_a_body_that_is_not_a_json_object_is_refused(shop: Enterprise) -> None:
    assert_refused(WidgetClient(shop).submit_raw("phone=13900001005"), "invalid_request", 400)


def test_a_field_of_the_wrong_type_is_refused(shop: Enterprise) -> None:
    assert_refused(WidgetClient(shop).submit(page_url=["x"]), "invalid_request", 400)


# -- the number ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["12345", "139000010051234", "not a number", "1390000100５x"])
def test_a_bad_number_is_refused(shop: Enterprise, typed: str) -> None:
    assert_refused(WidgetClient(shop).submit(typed), "invalid_phone_number", 400)


def test_full_width_digits_are_read_as_digits(shop: Enterprise) -> None:
    assert WidgetClient(shop).submit("１３９ ０００ ０１００５").status_code == 201
    assert CallbackRequest.objects.get().visitor_number == "+8613900001005"


def test_a_country_the_enterprise_does_not_offer_is_refused(shop: Enterprise) -> None:
    assert_refused(WidgetClient(shop).submit("2025550123", country="US"), "country_not_allowed", 400)


def test_a_number_abroad_is_refused_by_default(shop: Enterprise) -> None:
    assert_refused(WidgetClient(shop).submit("+852 2345 6789"), "international_not_allowed", 400)


def test_the_operator_can_allow_international_numbers_of_the_enterprises_countries(db: None) -> None:
    # given
    enterprise = widget_enterprise("intl")
    services.widget_settings_update(enterprise=enterprise, allowed_countries=["CN", "HK"])
    WidgetPolicy.objects.create(enterprise=enterprise, allow_international=True)
    api = WidgetClient(enterprise)
    # when
    hong_kong = api.submit("2345 6789", country="HK")
    france = api.submit("+33 1 23 45 67 89")
    # then
    assert hong_kong.status_code == 201
    assert france.json()["code"] == "country_not_allowed"
    assert list(CallbackRequest.objects.values_list("visitor_number", flat=True)) == ["+85223456789"]


SPECIAL_NUMBERS = [
    ("+86 400 123 4567", "shared_cost"),
    ("+86 800 123 4567", "toll_free"),
    ("+86 168 1234 5", "premium_rate"),
    ("+44 90 1234 5678", "premium_rate"),
    ("+44 55 1234 5678", "uan"),
    ("+44 76 4012 3456", "pager"),
    ("+44 70 1234 5678", "personal_number"),
    ("+44 56 1234 5678", "voip"),
    ("+49 177 991234567", "voicemail"),
    ("+49 180 12345", "shared_cost"),
    ("+870 773 123 456", "satellite"),
    ("+881 6 1234 5678", "satellite"),
    ("+883 5100 12345", "satellite"),
]


def international_enterprise(slug: str = "intl", **policy: object) -> Enterprise:
    """May call China, the UK and Germany, so that only a number's type can refuse it."""
    enterprise = widget_enterprise(slug)
    services.widget_settings_update(enterprise=enterprise, allowed_countries=["CN", "GB", "DE"])
    WidgetPolicy.objects.create(enterprise=enterprise, allow_international=True, **policy)
    return enterprise


@pytest.mark.parametrize(("number", "kind"), SPECIAL_NUMBERS)
def test_special_number_types_are_refused_by_default(db: None, number: str, kind: str) -> None:
    response = WidgetClient(international_enterprise()).submit(number, country="GB")
    assert_refused(response, "number_type_not_allowed", 400)
    assert AbuseEvent.objects.get().detail.startswith(kind)


def test_the_operator_can_allow_one_special_type_for_one_tenant(db: None) -> None:
    api = WidgetClient(international_enterprise(allowed_number_types=["toll_free"]))
    assert api.submit("+86 800 123 4567").status_code == 201
    assert api.submit("+86 400 123 4567").json()["code"] == "number_type_not_allowed"


# -- blacklists ------------------------------------------------------------------------------------------------


def test_a_number_on_the_global_blacklist_is_refused(shop: Enterprise) -> None:
    services.blacklist_add(enterprise=None, number="+8613900001005", reason="complaint")
    assert_refused(WidgetClient(shop).submit("13900001005"), "number_blocked", 403)


def test_a_number_on_the_tenants_blacklist_is_refused_for_that_tenant_only(shop: Enterprise) -> None:
    # given
    other = widget_enterprise("globex", numbers=("+8613900001100",))
    services.blacklist_add(enterprise=other, number="13900001005")
    # when
    refused = WidgetClient(other).submit("13900001005")
    accepted = WidgetClient(shop).submit("13900001005")
    # then
    assert refused.json()["code"] == "number_blocked"
    assert accepted.status_code == 201


def test_a_blacklisted_prefix_blocks_every_number_under_it(shop: Enterprise) -> None:
    services.blacklist_add(enterprise=None, number="+86139000", is_prefix=True)
    assert_refused(WidgetClient(shop).submit("13900001005"), "number_blocked", 403)


def test_a_lifted_or_expired_entry_blocks_nothing(shop: Enterprise) -> None:
    entry = services.blacklist_add(enterprise=None, number="+8613900001005")
    services.blacklist_lift(entry=entry)
    assert WidgetClient(shop).submit("13900001005").status_code == 201


def test_a_blacklisted_client_is_refused(shop: Enterprise) -> None:
    BlacklistEntry.objects.create(kind=BlacklistEntry.Kind.CLIENT, value="198.51.100.7")
    assert_refused(WidgetClient(shop).submit(), "client_blocked", 403)


# -- duplicates and numbers in flight --------------------------------------------------------------------------


def test_the_same_number_in_flight_for_the_same_enterprise_returns_that_request(shop: Enterprise) -> None:
    # given
    api = WidgetClient(shop)
    first = api.submit("13900001005").json()
    # when
    again = api.submit("+86 139 0000 1005")
    # then
    assert (again.status_code, again.json()["code"], again.json()["duplicate"]) == (200, "duplicate", True)
    assert again.json()["request_id"] == first["request_id"]
    assert CallbackRequest.objects.count() == 1
    assert AbuseEvent.objects.filter(code="duplicate").count() == 1


def test_a_number_in_flight_for_another_enterprise_is_refused(shop: Enterprise) -> None:
    # given
    other = widget_enterprise("globex", numbers=("+8613900001100",))
    WidgetClient(other).submit("13900001005")
    # when
    response = WidgetClient(shop).submit("13900001005")
    # then
    assert (response.status_code, response.json()["code"]) == (409, "number_in_flight")
    assert CallbackRequest.objects.count() == 1


# -- rate limits -----------------------------------------------------------------------------------------------


def test_a_number_may_ask_three_times_in_ten_minutes(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    for _ in range(3):
        assert api.submit("13900001005").status_code == 201
        cancel_all()
    response = api.submit("13900001005")
    assert (response.status_code, response.json()["code"]) == (429, "number_limit_10_minutes")
    assert CallbackRequest.objects.count() == 3


def test_a_number_may_ask_ten_times_a_day(shop: Enterprise) -> None:
    WidgetPolicy.objects.create(enterprise=shop, number_per_10_minutes=100, client_per_minute=100, client_per_hour=100)
    api = WidgetClient(shop)
    for _ in range(10):
        assert api.submit("13900001005").status_code == 201
        cancel_all()
    assert api.submit("13900001005").json()["code"] == "number_limit_day"
    assert CallbackRequest.objects.count() == 10


def test_a_client_may_submit_five_times_a_minute(shop: Enterprise) -> None:
    WidgetPolicy.objects.create(enterprise=shop, number_per_10_minutes=100)
    api = WidgetClient(shop)
    for _ in range(5):
        assert api.submit("13900001005").status_code == 201
        cancel_all()
    response = api.submit("13900001005")
    assert (response.status_code, response.json()["code"]) == (429, "client_limit_minute")


def test_a_client_may_submit_twenty_times_an_hour(shop: Enterprise) -> None:
    WidgetPolicy.objects.create(enterprise=shop, client_per_minute=100, number_per_10_minutes=100, number_per_day=100)
    api = WidgetClient(shop)
    for _ in range(20):
        assert api.submit("13900001005").status_code == 201
        cancel_all()
    assert api.submit("13900001005").json()["code"] == "client_limit_hour"


def test_a_client_may_ask_for_three_distinct_numbers_an_hour(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    for number in ("13900001001", "13900001002", "13900001003"):
        assert api.submit(number).status_code == 201
    assert api.submit("13900001004").json()["code"] == "client_numbers_limit_hour"
    # a number it asked for already is not a new one
    cancel_all()
    assert api.submit("13900001001").status_code == 201


def test_a_client_may_ask_for_four_distinct_numbers_a_day(shop: Enterprise) -> None:
    WidgetPolicy.objects.create(enterprise=shop, client_numbers_per_hour=100)
    api = WidgetClient(shop)
    for number in ("13900001001", "13900001002", "13900001003", "13900001004"):
        assert api.submit(number).status_code == 201
    assert api.submit("13900001005").json()["code"] == "client_numbers_limit_day"


def test_the_enterprise_hourly_limit_counts_every_visitor(shop: Enterprise) -> None:
    WidgetPolicy.objects.create(enterprise=shop, enterprise_per_hour=2)
    WidgetClient(shop, ip="203.0.113.1").submit("13900001001")
    WidgetClient(shop, ip="203.0.113.2").submit("13900001002")
    response = WidgetClient(shop, ip="203.0.113.3").submit("13900001003")
    assert (response.status_code, response.json()["code"]) == (429, "enterprise_limit_hour")
    assert CallbackRequest.objects.count() == 2


def test_the_enterprise_daily_limit_counts_every_visitor(shop: Enterprise) -> None:
    WidgetPolicy.objects.create(enterprise=shop, enterprise_per_day=1)
    WidgetClient(shop, ip="203.0.113.1").submit("13900001001")
    assert WidgetClient(shop, ip="203.0.113.2").submit("13900001002").json()["code"] == "enterprise_limit_day"


def test_a_refused_submission_uses_up_no_limit(shop: Enterprise) -> None:
    # given: two refusals (a wrong captcha, a bad number)
    api = WidgetClient(shop)
    api.submit(answer="wrong")
    api.submit("123")
    # when: five good ones in the same minute
    statuses = []
    for number in ("13900001001", "13900001002", "13900001003"):
        statuses.append(api.submit(number).status_code)
    # then
    assert statuses == [201, 201, 201]


# -- the tenant and its money ----------------------------------------------------------------------------------


def test_a_reached_daily_spend_cap_is_refused(shop: Enterprise) -> None:
    plan = billing_services.rate_plan_create(name="Widget test plan")
    billing_services.account_open(enterprise=shop, rate_plan=plan, daily_spend_cap=Decimal(0))
    assert_refused(WidgetClient(shop).submit(), "spend_cap_reached", 503)


def test_a_suspended_enterprise_takes_no_callbacks(shop: Enterprise) -> None:
    tenant_services.enterprise_update(enterprise=shop, status=Enterprise.Status.SUSPENDED)
    assert_refused(WidgetClient(shop).submit(), "callbacks_suspended", 503)


def test_a_disabled_widget_is_unknown(shop: Enterprise) -> None:
    services.widget_settings_update(enterprise=shop, enabled=False)
    response = WidgetClient(shop).config()
    assert (response.status_code, response.json()["code"]) == (404, "unknown_widget")
    assert_refused(WidgetClient(shop).submit(captcha="0" * 40, answer="x"), "unknown_widget", 404)


# -- language --------------------------------------------------------------------------------------------------


def test_refusals_speak_the_visitors_language(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    response = api.client.post(
        f"{api.base}/requests?lang=en",
        data=json.dumps({"phone": "1", "language": "en-GB"}),
        content_type="text/plain",
        HTTP_ORIGIN=SHOP,
    )
    assert response.json()["message"] == "The characters did not match the picture. Please try the new picture."
