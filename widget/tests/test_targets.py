"""RELIABILITY.md's abuse targets S1–S7, each shown to hold at the widget's edge.

The concurrency tests (S4, S5) fire 100 submissions at once from 100 threads at a real gunicorn with 4
worker processes sharing the real Redis, so the limits are raced across processes exactly as in production.
Their enterprise is closed (opening in a few days) so accepted requests wait as ``scheduled`` and nothing is
queued on the shared Celery broker.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from billing import services as billing_services
from callback.ami import OriginateRequest
from callback.models import AsteriskNode, CallAttempt, CallbackRequest
from callback.services import placement
from callback.services.requests import request_cancel
from conftest import make_enterprise
from tenants import services as tenant_services
from tenants.models import Enterprise
from widget import abuse, captcha, selectors, services
from widget.models import AbuseEvent, BlacklistEntry, WidgetPolicy
from widget.store import Counter, LocalStore, RedisStore, get_store, key
from widget.tests.conftest import SHOP, captcha_answer, widget_enterprise
from widget.tests.server import gunicorn, post_json
from widget.tests.test_api import SPECIAL_NUMBERS, international_enterprise

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # a Monday, 11:00 in Shanghai


def submit(
    enterprise: Enterprise, phone: str, *, ip: str = "198.51.100.7", now: datetime = T0, **data: Any
) -> services.Submission:
    """A submission as the API makes it, at ``now``, with a solved captcha."""
    widget = selectors.widget_by_public_key(public_key=enterprise.public_key)
    assert widget is not None
    created = captcha.captcha_create()
    body = {"phone": phone, "country": "CN", "captcha_key": created.key, "captcha_answer": captcha_answer(created.key)}
    visitor = abuse.Visitor(client_ip=ip, origin=SHOP, user_agent="test")
    return services.submission_create(widget=widget, data={**body, **data}, visitor=visitor, now=now)


def refusal_code(enterprise: Enterprise, phone: str, **kwargs: Any) -> str:
    try:
        submit(enterprise, phone, **kwargs)
    except services.WidgetRefusal as refusal:
        return refusal.code
    return "accepted"


def end_all() -> None:
    for request in CallbackRequest.objects.filter(status__in=["accepted", "scheduled"]):
        request_cancel(request=request)


# -- S1: per visitor number, across all tenants ----------------------------------------------------------------


@pytest.mark.django_db
def test_s1_one_request_in_flight_per_number_across_tenants(shop: Enterprise) -> None:
    other = widget_enterprise("globex", numbers=("+8613900001100",))
    submit(shop, "13900001005")
    assert refusal_code(other, "13900001005") == "number_in_flight"
    end_all()
    assert refusal_code(other, "13900001005") == "accepted"


@pytest.mark.django_db
def test_s1_three_per_ten_minutes_across_tenants_then_free_again(shop: Enterprise) -> None:
    # given: three requests for one number, to three tenants, from three clients
    tenants = [shop] + [widget_enterprise(f"t{i}", numbers=(f"+861380000{i}100",)) for i in (2, 3, 4)]
    for index, tenant in enumerate(tenants[:3]):
        submit(tenant, "13900001005", ip=f"203.0.113.{index}", now=T0 + timedelta(minutes=index))
        end_all()
    # when / then: a fourth within ten minutes of the first is refused, after that it is not
    assert refusal_code(tenants[3], "13900001005", ip="203.0.113.9", now=T0 + timedelta(minutes=9)) == (
        "number_limit_10_minutes"
    )
    assert refusal_code(tenants[3], "13900001005", ip="203.0.113.9", now=T0 + timedelta(minutes=10, seconds=1)) == (
        "accepted"
    )


@pytest.mark.django_db
def test_s1_ten_per_day_across_tenants(shop: Enterprise) -> None:
    tenants = [shop, widget_enterprise("globex", numbers=("+8613900001100",))]
    for i in range(10):
        when = T0 + timedelta(minutes=30 * i)  # three every ten minutes would be allowed: spread them out
        assert refusal_code(tenants[i % 2], "13900001005", ip=f"203.0.113.{i}", now=when) == "accepted"
        end_all()
    later = T0 + timedelta(hours=23)
    assert refusal_code(shop, "13900001005", ip="203.0.113.99", now=later) == "number_limit_day"
    assert refusal_code(shop, "13900001005", ip="203.0.113.99", now=T0 + timedelta(hours=24, minutes=1)) == ("accepted")


# -- S2: per client --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_s2_client_limits_per_minute_and_hour_and_distinct_numbers(shop: Enterprise) -> None:
    WidgetPolicy.objects.create(enterprise=shop, number_per_10_minutes=100, number_per_day=100)
    codes = []
    for i in range(6):
        codes.append(refusal_code(shop, "13900001005", now=T0 + timedelta(seconds=i)))
        end_all()
    assert codes == ["accepted"] * 5 + ["client_limit_minute"]
    # distinct numbers: three an hour
    later = T0 + timedelta(hours=2)
    numbers = [refusal_code(shop, f"1390000200{i}", now=later + timedelta(minutes=i)) for i in range(4)]
    assert numbers == ["accepted", "accepted", "accepted", "client_numbers_limit_hour"]


@pytest.mark.django_db
def test_s2_a_repeat_offender_is_blocked_for_24_hours_then_until_reviewed(shop: Enterprise) -> None:
    # given: a client that keeps hitting the per-minute limit
    WidgetPolicy.objects.create(enterprise=shop, client_per_minute=1, number_per_10_minutes=100)
    submit(shop, "13900001005")
    end_all()
    for second in range(1, 6):
        assert refusal_code(shop, "13900001005", now=T0 + timedelta(seconds=second)) == "client_limit_minute"
    # then: the fifth strike blocked it for 24 hours
    entry = BlacklistEntry.objects.get(kind="client", value="198.51.100.7")
    assert (entry.source, entry.expires_at) == ("automatic", T0 + timedelta(seconds=5, hours=24))
    assert refusal_code(shop, "13900001005", now=T0 + timedelta(hours=23)) == "client_blocked"
    assert AbuseEvent.objects.filter(code="blocked_automatically").count() == 1
    # when: it is free again after a day, and offends again
    day_after = T0 + timedelta(hours=25)
    assert refusal_code(shop, "13900001005", now=day_after) == "accepted"
    end_all()
    for second in range(1, 6):
        refusal_code(shop, "13900001005", now=day_after + timedelta(seconds=second))
    # then: blocked until an operator lifts it
    permanent = BlacklistEntry.objects.filter(kind="client", value="198.51.100.7").latest("created_at")
    assert permanent.expires_at is None
    assert refusal_code(shop, "13900001005", now=day_after + timedelta(days=30)) == "client_blocked"
    services.blacklist_lift(entry=permanent)
    assert refusal_code(shop, "13900001005", now=day_after + timedelta(days=30)) == "accepted"


@pytest.mark.django_db
def test_s2_a_number_that_keeps_hitting_its_limit_is_blocked(shop: Enterprise) -> None:
    WidgetPolicy.objects.create(enterprise=shop, number_per_10_minutes=1)
    submit(shop, "13900001005")
    end_all()
    for i in range(5):
        refusal_code(shop, "13900001005", ip=f"203.0.113.{i}", now=T0 + timedelta(seconds=i + 1))
    entry = BlacklistEntry.objects.get(kind="number")
    assert (entry.value, entry.source, entry.enterprise) == ("+8613900001005", "automatic", None)
    assert refusal_code(shop, "13900001005", ip="203.0.113.77", now=T0 + timedelta(hours=1)) == "number_blocked"


# -- S3: deny by default ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_s3_no_request_for_any_number_of_the_special_corpus(db: None) -> None:
    enterprise = international_enterprise()
    codes = {number: refusal_code(enterprise, number) for number, _kind in SPECIAL_NUMBERS}
    assert set(codes.values()) == {"number_type_not_allowed"}, codes
    assert not CallbackRequest.objects.exists()


@pytest.mark.django_db
def test_s3_only_the_tenants_countries(shop: Enterprise) -> None:
    assert refusal_code(shop, "+1 202 555 0123") == "international_not_allowed"
    assert refusal_code(shop, "2025550123", country="US") == "country_not_allowed"
    assert not CallbackRequest.objects.exists()


# -- S5: atomic limits under concurrency -----------------------------------------------------------------------


@pytest.mark.parametrize("store", [pytest.param("redis", id="redis"), pytest.param("local", id="local")])
def test_s5_one_hundred_concurrent_admissions_admit_exactly_the_limit(store: str) -> None:
    target = get_store() if store == "redis" else LocalStore()
    assert isinstance(target, RedisStore) or store == "local"
    counter_key = key("s5")
    start = threading.Barrier(100)

    def one(index: int) -> bool:
        start.wait()
        return target.admit([Counter(counter_key, 7, 60_000, f"t{index}")], now_ms=1_000_000).admitted

    with ThreadPoolExecutor(100) as pool:
        admitted = list(pool.map(one, range(100)))
    assert admitted.count(True) == 7


def closed_enterprise(slug: str, **fields: Any) -> Enterprise:
    """Open only three days from now, so accepted requests wait as scheduled and no task is queued."""
    enterprise = make_enterprise(slug, **fields)
    weekday = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=3)).weekday()
    tenant_services.working_hours_replace(
        enterprise=enterprise, intervals=[tenant_services.OpeningInterval(weekday, time(9), time(18))]
    )
    services.widget_settings_update(enterprise=enterprise, allowed_origins=[SHOP])
    return enterprise


def fire(base: str, enterprise: Enterprise, submissions: list[dict[str, str]]) -> list[tuple[int, dict[str, Any]]]:
    """POST every submission at the same instant, one thread each."""
    keys = [captcha.captcha_create().key for _ in submissions]
    start = threading.Barrier(len(submissions))

    def one(index: int) -> tuple[int, dict[str, Any]]:
        item = dict(submissions[index])
        ip = item.pop("ip", "198.51.100.7")
        body = {"country": "CN", "captcha_key": keys[index], "captcha_answer": captcha_answer(keys[index]), **item}
        start.wait()
        return post_json(
            base,
            f"/api/widget/v1/{enterprise.public_key}/requests",
            body,
            {"Origin": SHOP, "X-Forwarded-For": ip},
        )

    with ThreadPoolExecutor(len(submissions)) as pool:
        return list(pool.map(one, range(len(submissions))))


@pytest.fixture
def server(transactional_db: None) -> Any:
    with gunicorn(workers=4, env={"WIDGET_TRUSTED_PROXY_COUNT": "1"}) as base:
        yield base


def codes_of(results: list[tuple[int, dict[str, Any]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _status, body in results:
        counts[body.get("code", "?")] = counts.get(body.get("code", "?"), 0) + 1
    return counts


@pytest.mark.timeout(180)
def test_s5_concurrent_identical_submissions_make_one_request(server: str) -> None:
    enterprise = closed_enterprise("s5a")
    results = fire(server, enterprise, [{"phone": "13900001005"}] * 100)
    assert codes_of(results) == {"accepted": 1, "duplicate": 99}
    assert len({body["request_id"] for _status, body in results}) == 1
    assert CallbackRequest.objects.count() == 1


@pytest.mark.timeout(180)
def test_s5_concurrent_submissions_from_one_client_admit_exactly_its_limit(server: str) -> None:
    enterprise = closed_enterprise("s5b")
    WidgetPolicy.objects.create(enterprise=enterprise, client_numbers_per_hour=1000, client_numbers_per_day=1000)
    results = fire(server, enterprise, [{"phone": f"139000{i:05d}"} for i in range(100)])
    codes = codes_of(results)
    # The refusals are strikes: the fifth blocks the client, so later ones may meet the block instead.
    assert codes.pop("accepted") == 5
    assert set(codes) <= {"client_limit_minute", "client_blocked"} and codes["client_limit_minute"] >= 5
    assert CallbackRequest.objects.count() == 5


@pytest.mark.timeout(180)
def test_s5_concurrent_visitors_admit_exactly_the_enterprises_hourly_limit(server: str) -> None:
    enterprise = closed_enterprise("s5c")
    WidgetPolicy.objects.create(enterprise=enterprise, enterprise_per_hour=10)
    submissions = [{"phone": f"139000{i:05d}", "ip": f"10.0.{i // 250}.{i % 250 + 1}"} for i in range(100)]
    results = fire(server, enterprise, submissions)
    assert codes_of(results) == {"accepted": 10, "enterprise_limit_hour": 90}, results
    assert CallbackRequest.objects.count() == 10


@pytest.mark.timeout(180)
def test_s5_concurrent_submissions_of_one_number_to_many_tenants_admit_exactly_its_limit(server: str) -> None:
    tenants = [closed_enterprise(f"s5d{i}") for i in range(5)]
    for tenant in tenants:
        WidgetPolicy.objects.create(enterprise=tenant, number_max_in_flight=100)
    keyed = [(tenants[i % 5], {"phone": "13900001005", "ip": f"10.1.0.{i + 1}"}) for i in range(100)]
    start = threading.Barrier(5)

    def tenant_batch(tenant: Enterprise) -> list[tuple[int, dict[str, Any]]]:
        start.wait()
        return fire(server, tenant, [item for owner, item in keyed if owner == tenant])

    with ThreadPoolExecutor(5) as pool:
        results = [result for batch in pool.map(tenant_batch, tenants) for result in batch]
    assert CallbackRequest.objects.count() == 3
    assert codes_of(results)["accepted"] == 3


# -- S4: spend cap and concurrency cap with 100 parallel requests ----------------------------------------------


@pytest.mark.timeout(180)
def test_s4_no_request_over_the_daily_spend_cap_with_100_parallel_submissions(server: str) -> None:
    enterprise = closed_enterprise("s4a")
    WidgetPolicy.objects.create(enterprise=enterprise, client_per_minute=1000, client_numbers_per_hour=1000)
    plan = billing_services.rate_plan_create(name="S4 plan")
    billing_services.account_open(enterprise=enterprise, rate_plan=plan, daily_spend_cap=Decimal(0))
    results = fire(server, enterprise, [{"phone": f"139000{i:05d}", "ip": f"10.2.0.{i + 1}"} for i in range(100)])
    assert codes_of(results) == {"spend_cap_reached": 100}
    assert not CallbackRequest.objects.exists()


class RecordingGateway:
    def __init__(self) -> None:
        self.sent: list[OriginateRequest] = []
        self._lock = threading.Lock()

    def originate(self, node: AsteriskNode, request: OriginateRequest) -> None:
        with self._lock:
            self.sent.append(request)


@pytest.mark.timeout(180)
def test_s4_100_parallel_requests_never_ring_more_lines_than_the_concurrency_cap(server: str) -> None:
    # given: 100 visitors accepted at once by a tenant allowed 3 calls at a time
    enterprise = closed_enterprise("s4b", max_concurrent_calls=3)
    for priority in range(2, 7):  # more phones than the cap, so the cap is what stops the fourth call
        tenant_services.bound_number_create(enterprise=enterprise, number=f"+861380000{priority}100", priority=priority)
    WidgetPolicy.objects.create(enterprise=enterprise, enterprise_per_hour=1000)
    results = fire(server, enterprise, [{"phone": f"139000{i:05d}", "ip": f"10.3.0.{i + 1}"} for i in range(100)])
    assert codes_of(results) == {"accepted": 100}
    AsteriskNode.objects.create(name="pbx-s4", host="127.0.0.1", username="huibo", secret="s", channel_capacity=1000)
    gateway = RecordingGateway()
    opening = CallbackRequest.objects.first().due_at  # type: ignore[union-attr]
    # when: the engine places all of them at the opening, eight workers at a time
    ids = list(CallbackRequest.objects.values_list("id", flat=True))

    def place(request_id: int) -> None:
        from django.db import connection

        try:
            placement.attempt_place(request_id=request_id, attempt_number=1, gateway=gateway, now=opening)
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(place, ids))
    # then
    assert len(gateway.sent) == 3
    assert CallAttempt.objects.count() == 3


# -- S6: one-time captcha, short-lived, test mode impossible in production -------------------------------------


@pytest.mark.django_db
def test_s6_a_captcha_is_single_use_and_lives_at_most_five_minutes(shop: Enterprise, settings: Any) -> None:
    settings.WIDGET_CAPTCHA_TTL_SECONDS = 300
    created = captcha.captcha_create()
    answer = captcha_answer(created.key)
    assert created.ttl_seconds <= 300
    assert 0 < get_store().client.ttl(key("captcha", created.key)) <= 300  # type: ignore[attr-defined]
    assert captcha.captcha_consume(captcha_key=created.key, answer=answer) is True
    assert captcha.captcha_consume(captcha_key=created.key, answer=answer) is False


def test_s6_test_mode_with_debug_off_fails_the_system_check(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.management.base import SystemCheckError

    settings.WIDGET_CAPTCHA_TEST_MODE = True
    settings.DEBUG = False
    monkeypatch.setattr("widget.checks.running_tests", lambda: False)
    with pytest.raises(SystemCheckError, match="widget.E001"):
        call_command("check")


def test_s6_test_mode_outside_tests_and_debug_accepts_nothing(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.WIDGET_CAPTCHA_TEST_MODE = True
    settings.DEBUG = False
    monkeypatch.setattr("widget.captcha.running_tests", lambda: False)
    created = captcha.captcha_create()
    assert captcha.captcha_consume(captcha_key=created.key, answer="PASSED") is False


def test_s6_test_mode_passes_the_check_under_debug(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.WIDGET_CAPTCHA_TEST_MODE = True
    settings.DEBUG = True
    monkeypatch.setattr("widget.checks.running_tests", lambda: False)
    call_command("check")


# -- S7: short-call pumping suspends new callbacks -------------------------------------------------------------


@pytest.mark.django_db
def test_s7_a_tenant_suspended_for_pumping_takes_no_widget_callbacks(shop: Enterprise) -> None:
    """Billing's detector (billing.services.pumping_check, run after each call's CDRs) suspends the tenant
    when over 20 % of its last hour's calls lasted 6 s or less; the widget then refuses every submission."""
    from cdr.models import CallSummary

    # given: 10 connected calls in the last hour, 3 of them of 4 seconds
    now = datetime.now(UTC)
    for i in range(10):
        CallSummary.objects.create(
            enterprise=shop,
            callback_request_id=i + 1,
            attempt_id=i + 1,
            linkedid=f"l{i}",
            node_name="pbx",
            visitor_number=f"+86139000010{i:02d}",
            connected=True,
            connected_at=now - timedelta(minutes=30),
            ended_at=now - timedelta(minutes=29),
            talk_seconds=4 if i < 3 else 60,
        )
    # when
    alert = billing_services.pumping_check(enterprise_id=shop.pk, now=now)
    # then
    assert alert is not None
    assert refusal_code(shop, "13900001005", now=now) == "callbacks_suspended"
    assert not CallbackRequest.objects.exists()
