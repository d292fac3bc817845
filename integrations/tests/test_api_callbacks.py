"""Creating, reading and cancelling callbacks over the API: idempotency keys, rate limits, refusals."""

import threading
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from callback.models import CallbackRequest
from callback.services import requests as callback_requests
from integrations.services import ratelimit
from integrations.tests.conftest import KeyedClient
from tenants import services as tenant_services
from tenants.models import Enterprise

pytestmark = pytest.mark.django_db

NUMBER = "+8613900001005"


def test_a_server_creates_a_callback_and_reads_its_status(api: KeyedClient) -> None:
    # when
    created = api.client.post("/api/v1/callbacks/", {"visitor_number": "13900001005"}, format="json")
    # then it is accepted, normalised to E.164, and readable by its public id
    assert created.status_code == 201
    body = created.json()
    assert (body["status"], body["visitor_number"], body["source"], body["enterprise"]) == (
        "accepted",
        NUMBER,
        "api",
        "acme",
    )
    read = api.client.get(f"/api/v1/callbacks/{body['id']}/")
    assert read.status_code == 200
    assert read.json() == body
    assert CallbackRequest.objects.get().correlation_id.hex == body["id"].replace("-", "")


def test_an_address_without_its_trailing_slash_is_served_and_an_unknown_one_is_a_json_404(api: KeyedClient) -> None:
    # a create sent without the slash creates (a redirect would come back to the client as a GET of the list)
    created = api.client.post("/api/v1/callbacks", {"visitor_number": "13900001005"}, format="json")
    assert created.status_code == 201
    assert api.client.get(f"/api/v1/callbacks/{created.json()['id']}").json()["id"] == created.json()["id"]
    # an address the API does not have answers as every other refusal does
    unknown = api.client.get("/api/v1/nope/")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert unknown["Content-Type"] == "application/json"


def test_an_invalid_number_is_refused_and_nothing_is_created(api: KeyedClient) -> None:
    response = api.client.post("/api/v1/callbacks/", {"visitor_number": "12\r\nAction: Originate"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_phone_number"
    assert not CallbackRequest.objects.exists()


def test_a_missing_field_is_a_validation_error_naming_it(api: KeyedClient) -> None:
    response = api.client.post("/api/v1/callbacks/", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": "Some fields are not valid.",
        "extra": {"fields": {"visitor_number": ["This field is required."]}},
    }


def test_the_same_idempotency_key_and_body_returns_the_first_response(api: KeyedClient) -> None:
    # given a create sent with an Idempotency-Key
    first = api.client.post(
        "/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json", HTTP_IDEMPOTENCY_KEY="order-42"
    )
    # when the client retries it
    again = api.client.post(
        "/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json", HTTP_IDEMPOTENCY_KEY="order-42"
    )
    # then it gets the same response and there is still one request
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert CallbackRequest.objects.count() == 1


def test_the_same_idempotency_key_with_another_body_is_a_409_that_creates_nothing(api: KeyedClient) -> None:
    api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    response = api.client.post(
        "/api/v1/callbacks/", {"visitor_number": "+8613900001006"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert list(CallbackRequest.objects.values_list("visitor_number", flat=True)) == [NUMBER]


def test_idempotency_keys_are_per_enterprise(api: KeyedClient, other_api: KeyedClient) -> None:
    ours = api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json", HTTP_IDEMPOTENCY_KEY="x")
    theirs = other_api.client.post(
        "/api/v1/callbacks/", {"visitor_number": "+8613900001006"}, format="json", HTTP_IDEMPOTENCY_KEY="x"
    )
    assert (ours.status_code, theirs.status_code) == (201, 201)
    assert ours.json()["id"] != theirs.json()["id"]


def test_a_refused_create_is_not_remembered_under_its_key(api: KeyedClient, enterprise: Enterprise) -> None:
    # given a create refused because the enterprise is suspended
    Enterprise.objects.filter(pk=enterprise.pk).update(status="suspended")
    refused = api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    # when the enterprise is active again and the client retries with the same key
    Enterprise.objects.filter(pk=enterprise.pk).update(status="active")
    retried = api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    # then the retry is done for real
    assert (refused.status_code, refused.json()["code"]) == (409, "enterprise_suspended")
    assert retried.status_code == 201


def test_an_idempotency_key_that_is_not_a_token_is_refused(api: KeyedClient) -> None:
    response = api.client.post(
        "/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json", HTTP_IDEMPOTENCY_KEY="has space"
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_idempotency_key")
    assert not CallbackRequest.objects.exists()


def test_a_waiting_request_can_be_cancelled_once(api: KeyedClient) -> None:
    created = api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json").json()
    cancelled = api.client.post(f"/api/v1/callbacks/{created['id']}/cancel/")
    again = api.client.post(f"/api/v1/callbacks/{created['id']}/cancel/")
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["reason_code"], cancelled.json()["is_final"]) == (
        "cancelled",
        "cancelled",
        True,
    )
    assert (again.status_code, again.json()["code"], again.json()["extra"]) == (
        409,
        "not_cancellable",
        {"status": "cancelled"},
    )


def test_a_ringing_request_cannot_be_cancelled(api: KeyedClient, enterprise: Enterprise) -> None:
    request = callback_requests.callback_request_create(enterprise=enterprise, visitor_number=NUMBER)
    CallbackRequest.objects.filter(pk=request.pk).update(status="dialing_enterprise")
    response = api.client.post(f"/api/v1/callbacks/{request.correlation_id}/cancel/")
    assert (response.status_code, response.json()["code"]) == (409, "not_cancellable")
    request.refresh_from_db()
    assert request.status == "dialing_enterprise"


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(api: KeyedClient, settings: object) -> None:
    settings.API_RATE_LIMIT_PER_MINUTE = 3  # type: ignore[attr-defined]
    statuses = [api.client.get("/api/v1/balance/") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert [r["X-RateLimit-Remaining"] for r in statuses[:3]] == ["2", "1", "0"]
    refused = statuses[3]
    assert refused.json()["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["extra"]["retry_after"] == int(refused["Retry-After"])


def test_rate_limits_are_per_key(api: KeyedClient, other_api: KeyedClient, settings: object) -> None:
    settings.API_RATE_LIMIT_PER_MINUTE = 1  # type: ignore[attr-defined]
    assert api.client.get("/api/v1/balance/").status_code == 200
    assert api.client.get("/api/v1/balance/").status_code == 429
    assert other_api.client.get("/api/v1/balance/").status_code == 200


def test_concurrent_hits_admit_exactly_the_limit() -> None:
    """RELIABILITY.md S5: 100 concurrent hits on one bucket with room for 10 admit exactly 10."""
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(100)

    def hit() -> None:
        start.wait()
        decision = ratelimit.rate_limit_hit(bucket="concurrency", limit=10, window_seconds=60)
        with lock:
            results.append(decision.allowed)

    threads = [threading.Thread(target=hit) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (results.count(True), results.count(False)) == (10, 90)
    connection.close()


def test_lists_are_cursor_paginated_newest_first(api: KeyedClient, settings: object) -> None:
    settings.API_PAGE_SIZE = 2  # type: ignore[attr-defined]
    numbers = ["+8613900001005", "+8613900001006", "+8613900001007"]
    ids = [api.client.post("/api/v1/callbacks/", {"visitor_number": n}, format="json").json()["id"] for n in numbers]
    first = api.client.get("/api/v1/callbacks/").json()
    second = api.client.get(first["next"]).json()
    assert [c["id"] for c in first["results"]] + [c["id"] for c in second["results"]] == ids[::-1]
    assert second["next"] is None
    filtered = api.client.get("/api/v1/callbacks/?status=cancelled").json()
    assert filtered["results"] == []
    # a limit or a cursor the client made up is refused as bad input, naming it
    for query, field in (("limit=0", "limit"), ("limit=abc", "limit"), ("cursor=made-up", "cursor")):
        refused = api.client.get(f"/api/v1/callbacks/?{query}")
        assert (refused.status_code, refused.json()["code"], list(refused.json()["extra"]["fields"])) == (
            400,
            "invalid",
            [field],
        ), query
    assert len(api.client.get("/api/v1/callbacks/?limit=1").json()["results"]) == 1


def test_the_callback_list_costs_a_fixed_number_of_queries(
    api: KeyedClient, django_assert_max_num_queries: object
) -> None:
    for n in range(5):
        api.client.post("/api/v1/callbacks/", {"visitor_number": f"+861390000100{n}"}, format="json")
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        assert len(api.client.get("/api/v1/callbacks/").json()["results"]) == 5


def test_asking_again_for_a_number_in_flight_returns_the_same_request(api: KeyedClient) -> None:
    first = api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json")
    again = api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert CallbackRequest.objects.count() == 1


def test_the_widgets_limits_apply_a_number_in_flight_elsewhere_is_refused(
    api: KeyedClient, other_api: KeyedClient
) -> None:
    """RELIABILITY.md S1: one callback in flight per visitor number, across tenants."""
    assert other_api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json").status_code == 201
    response = api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "number_in_flight")
    assert CallbackRequest.objects.count() == 1


def test_the_widgets_limits_apply_three_per_number_in_ten_minutes(api: KeyedClient) -> None:
    for _ in range(3):
        created = api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json").json()
        assert api.client.post(f"/api/v1/callbacks/{created['id']}/cancel/").status_code == 200
    fourth = api.client.post("/api/v1/callbacks/", {"visitor_number": NUMBER}, format="json")
    assert (fourth.status_code, fourth.json()["code"]) == (429, "number_limit_10_minutes")
    assert CallbackRequest.objects.count() == 3


def test_the_widgets_number_policy_applies_shared_cost_and_foreign_numbers_are_refused(api: KeyedClient) -> None:
    """RELIABILITY.md S3: only the tenant's country, only fixed and mobile numbers."""
    shared_cost = api.client.post("/api/v1/callbacks/", {"visitor_number": "+864001234567"}, format="json")
    foreign = api.client.post("/api/v1/callbacks/", {"visitor_number": "+12015550123"}, format="json")
    assert (shared_cost.status_code, shared_cost.json()["code"]) == (400, "number_type_not_allowed")
    assert (foreign.status_code, foreign.json()["code"]) == (400, "international_not_allowed")
    assert not CallbackRequest.objects.exists()


@pytest.fixture
def open_in_three_days(enterprise: Enterprise) -> datetime:
    """The enterprise is closed now and opens 09:00–18:00 (its zone) on one day three days from now; that 09:00."""
    zone = ZoneInfo(enterprise.time_zone)
    day = datetime.now(zone).date() + timedelta(days=3)
    tenant_services.working_hours_replace(
        enterprise=enterprise, intervals=[tenant_services.OpeningInterval(day.weekday(), time(9), time(18))]
    )
    return datetime.combine(day, time(9), tzinfo=zone)


def test_a_server_asks_for_a_call_at_a_time_in_working_hours(api: KeyedClient, open_in_three_days: datetime) -> None:
    call_at = open_in_three_days + timedelta(hours=2)
    response = api.client.post(
        "/api/v1/callbacks/", {"visitor_number": NUMBER, "call_at": call_at.isoformat()}, format="json"
    )
    body = response.json()
    assert (response.status_code, body["status"], body["reason_code"]) == (201, "scheduled", "time_chosen")
    assert datetime.fromisoformat(body["due_at"]) == call_at
    assert CallbackRequest.objects.get().due_at == call_at


def test_a_call_at_outside_working_hours_is_refused_saying_why(api: KeyedClient, open_in_three_days: datetime) -> None:
    night = open_in_three_days - timedelta(hours=6)
    response = api.client.post(
        "/api/v1/callbacks/", {"visitor_number": NUMBER, "call_at": night.isoformat()}, format="json"
    )
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["extra"]["reason"]) == ("call_time_unavailable", "closed")
    assert not CallbackRequest.objects.exists()
