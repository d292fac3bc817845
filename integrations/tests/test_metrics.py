"""/metrics: a callback counted end to end, across what would be three processes (web, worker, listener)."""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from callback.ami import OriginateRequest
from callback.facts import AttemptEnded, Connected, Disposition, FirstLegAnswered, LegReport, SecondLegDialing
from callback.models import AsteriskNode, CallbackRequest
from callback.services import outcomes, placement
from cdr import services as cdr_services
from integrations import metrics
from integrations.models import WebhookDelivery
from integrations.services import webhooks
from integrations.tests.conftest import KeyedClient, metric_value, run_integrations_callbacks

pytestmark = pytest.mark.django_db


class RecordingGateway:
    def __init__(self) -> None:
        self.sent: list[OriginateRequest] = []

    def originate(self, node: AsteriskNode, request: OriginateRequest) -> None:
        self.sent.append(request)


def _committed(capture: Callable[..., object], step: Callable[[], object]) -> object:
    """Run an engine step as its own transaction would, then what integrations does after the commit."""
    with capture() as callbacks:  # type: ignore[operator]
        result = step()
    run_integrations_callbacks(callbacks)  # type: ignore[arg-type]
    return result


def test_a_completed_callback_is_counted_from_request_to_cdr_and_published(
    api: KeyedClient, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    # given a node, a webhook subscribed to every event, and a callback asked for over the API
    webhooks.webhook_subscription_create(
        enterprise=api.enterprise,  # type: ignore[arg-type]
        url="https://crm.example.com/hook",
        events=[event.value for event in webhooks.WebhookEvent],
    )
    node = AsteriskNode.objects.create(name="pbx-1", host="127.0.0.1", username="huibo", secret="s", ami_state="up")
    created = api.client.post("/api/v1/callbacks/", {"visitor_number": "+8613900001005"}, format="json")
    request = CallbackRequest.objects.get(correlation_id=created.json()["id"])
    gateway = RecordingGateway()
    # when the worker places it and the listener follows the call to its end (1 s to connect, 30 s talk)
    t0 = datetime.now(UTC)
    attempt = _committed(
        django_capture_on_commit_callbacks,
        lambda: placement.attempt_place(request_id=request.pk, attempt_number=1, gateway=gateway),
    )
    channel = attempt.channel_id  # type: ignore[attr-defined]
    for fact in (
        FirstLegAnswered(channel_id=channel, at=t0 + timedelta(seconds=1)),
        SecondLegDialing(channel_id=channel, at=t0 + timedelta(seconds=1)),
    ):
        handler = (
            outcomes.attempt_first_answered if isinstance(fact, FirstLegAnswered) else outcomes.attempt_second_dialing
        )
        _committed(django_capture_on_commit_callbacks, lambda f=fact, h=handler: h(f))
    connected_at = t0 + timedelta(seconds=2)
    _committed(
        django_capture_on_commit_callbacks,
        lambda: outcomes.attempt_connected(Connected(channel_id=channel, at=connected_at)),
    )
    hung_up = connected_at + timedelta(seconds=30)
    ended = AttemptEnded(
        channel_id=channel,
        at=hung_up,
        first=LegReport(Disposition.ANSWERED, answered_at=t0 + timedelta(seconds=1), ended_at=hung_up),
        second=LegReport(Disposition.ANSWERED, answered_at=connected_at, ended_at=hung_up, hung_up_first=True),
        connected_at=connected_at,
    )
    _committed(django_capture_on_commit_callbacks, lambda: outcomes.attempt_ended(ended))
    # and the worker writes its CDRs (twice: a redelivered task)
    for _run in range(2):
        _committed(
            django_capture_on_commit_callbacks,
            lambda: cdr_services.cdr_record_attempt(attempt_id=attempt.pk),  # type: ignore[attr-defined]
        )
    request.refresh_from_db()
    assert request.status == "completed"
    # then /metrics counts every move of the request once, each leg once, and the API request
    text = Client().get("/metrics").content.decode()

    def value(name: str, **labels: str) -> float | None:
        return metric_value(text, name, labels)

    transitions = "huibo_callback_transitions_total"
    assert value(transitions, event="place", to_status="dialing_enterprise") == 1
    assert value(transitions, event="first_answered", to_status="enterprise_answered") == 1
    assert value(transitions, event="second_dialing", to_status="dialing_visitor") == 1
    assert value(transitions, event="second_answered", to_status="connected") == 1
    assert value(transitions, event="hang_up", to_status="completed", reason="visitor_hung_up") == 1
    assert value("huibo_callback_leg_outcomes_total", role="enterprise", disposition="answered") == 1
    assert value("huibo_callback_leg_outcomes_total", role="visitor", disposition="answered") == 1
    assert value("huibo_billing_billable_seconds_total", role="visitor") == 30
    assert value("huibo_callback_time_to_connect_seconds_count") == 1
    assert value("huibo_callback_talk_duration_seconds_count") == 1
    assert value("huibo_http_requests_total", method="POST", route="/api/v1/callbacks/", status="201") == 1
    assert value("huibo_http_request_duration_seconds_count", method="POST", route="/api/v1/callbacks/") == 1
    assert value("huibo_callback_requests_in_flight", status="connected") == 0
    assert value("huibo_asterisk_node_up", node=node.name) == 1
    assert value("huibo_asterisk_node_live_calls", node=node.name) == 0
    # and every event of the call was published once, the CDRs' with the call's public id
    deliveries = WebhookDelivery.objects.order_by("id")
    assert [d.event_type for d in deliveries] == [
        "callback.accepted",
        "callback.enterprise_answered",
        "callback.connected",
        "callback.completed",
        "cdr.ready",
    ]
    cdr_ready = deliveries.last().payload["data"]  # type: ignore[union-attr]
    assert cdr_ready["callback_id"] == str(request.correlation_id)
    assert sorted(c["leg"] for c in cdr_ready["cdrs"]) == ["enterprise", "visitor"]


def test_a_histogram_is_cumulative_with_sum_and_count() -> None:
    for seconds in (0.003, 0.2, 0.2, 7.0):
        metrics.observe(metrics.WEBHOOK_LATENCY, seconds)
    text = Client().get("/metrics").content.decode()
    name = "huibo_webhook_delivery_duration_seconds"
    assert metric_value(text, f"{name}_bucket", {"le": "0.005"}) == 1
    assert metric_value(text, f"{name}_bucket", {"le": "0.25"}) == 3
    assert metric_value(text, f"{name}_bucket", {"le": "+Inf"}) == 4
    assert metric_value(text, f"{name}_count") == 4
    assert metric_value(text, f"{name}_sum") == pytest.approx(7.403)


def test_metrics_recorded_in_a_batch_are_written_once_when_it_ends() -> None:
    # given metrics recorded inside a batch (the listener's, around one transaction of moves)
    name = "huibo_webhook_delivery_duration_seconds"
    with metrics.batched():
        for seconds in (0.003, 0.2, 7.0):
            metrics.observe(metrics.WEBHOOK_LATENCY, seconds)
        # then nothing is written while the batch is open
        assert metric_value(Client().get("/metrics").content.decode(), f"{name}_count") in (None, 0)
    # and everything is, summed, once it ends
    text = Client().get("/metrics").content.decode()
    assert metric_value(text, f"{name}_count") == 3
    assert metric_value(text, f"{name}_sum") == pytest.approx(7.203)


def test_a_batch_that_raised_writes_none_of_its_metrics() -> None:
    # when a batch of moves fails (its transaction rolled back)
    with pytest.raises(RuntimeError), metrics.batched():
        metrics.increment(metrics.API_RATE_LIMITED)
        raise RuntimeError("rolled back")
    # then what it recorded is dropped, and later metrics are written as usual
    assert metric_value(Client().get("/metrics").content.decode(), "huibo_api_rate_limited_total") in (None, 0)
    metrics.increment(metrics.API_RATE_LIMITED)
    assert metric_value(Client().get("/metrics").content.decode(), "huibo_api_rate_limited_total") == 1


def test_requests_one_web_process_answered_reach_every_scrape_within_its_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a web process that sums its answered requests and sends them every 50 ms
    monkeypatch.setattr(metrics, "_http_tally", metrics._Tally(interval=0.05))
    for _ in range(3):
        metrics.record_http_request(method="GET", route="/portal/", status=200, seconds=0.01)
    # then another process's scrape, which reads only Redis, soon sees all three
    field = "GET\x1f/portal/\x1f200"
    deadline = time.monotonic() + 5
    while metrics._read(metrics.HTTP_REQUESTS.name).get(field) != 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert metrics._read(metrics.HTTP_REQUESTS.name).get(field) == 3


def test_metrics_with_redis_down_cost_one_timeout_and_raise_nothing(settings: object) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    metrics.increment(metrics.API_RATE_LIMITED)
    assert metrics._breaker.is_open
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert b"huibo_callback_requests_in_flight" in response.content


def test_a_metrics_token_is_required_when_configured(settings: object) -> None:
    settings.INTEGRATIONS_METRICS_TOKEN = "scrape-secret"  # type: ignore[attr-defined]
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200
