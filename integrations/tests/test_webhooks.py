"""Webhooks: signed bodies a receiver can verify, retries with backoff against a real local receiver, and
publishing that only ever happens after the engine's transaction commits."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from callback.models import CallbackRequest
from callback.reasons import Reason
from callback.services import requests as callback_requests
from callback.statemachine import Event
from integrations import tasks
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.services import webhooks
from integrations.tests.conftest import Receiver, run_integrations_callbacks
from tenants.models import Enterprise

pytestmark = pytest.mark.django_db


def _subscribe(enterprise: Enterprise, url: str, events: list[str] | None = None) -> WebhookSubscription:
    return webhooks.webhook_subscription_create(
        enterprise=enterprise, url=url, events=events or [e.value for e in webhooks.WebhookEvent]
    )


def _publish(enterprise: Enterprise) -> WebhookDelivery:
    [delivery] = webhooks.webhook_event_publish(
        enterprise_id=enterprise.pk,
        event_type=webhooks.WebhookEvent.CALLBACK_COMPLETED,
        data={"callback": {"id": "c0ffee", "status": "completed"}},
    )
    return delivery


def test_a_receiver_verifies_the_signature_over_timestamp_and_body(enterprise: Enterprise, receiver: Receiver) -> None:
    # given a subscription and an event for it
    subscription = _subscribe(enterprise, receiver.url)
    delivery = _publish(enterprise)
    # when the delivery is tried
    result = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    # then the receiver got one POST whose signature it can check with nothing but its secret
    assert result is not None and result.status == "succeeded"
    [post] = receiver.received
    headers, body = post["headers"], post["body"]
    expected = hmac.new(
        subscription.secret.encode(), headers["Huibo-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["Huibo-Signature"] == f"v1={expected}"
    assert webhooks.webhook_signature_verify(
        secret=subscription.secret,
        timestamp=headers["Huibo-Timestamp"],
        body=body,
        signature=headers["Huibo-Signature"],
    )
    assert (headers["Huibo-Event"], headers["Huibo-Event-Id"]) == ("callback.completed", str(delivery.event_id))
    assert json.loads(body) == {
        "id": str(delivery.event_id),
        "type": "callback.completed",
        "created_at": delivery.payload["created_at"],
        "data": {"callback": {"id": "c0ffee", "status": "completed"}},
    }


def test_a_tampered_body_or_an_old_timestamp_does_not_verify() -> None:
    body = b'{"id":"1"}'
    signature = webhooks.webhook_signature(secret="whsec_x", timestamp=1_000_000, body=body)
    assert webhooks.webhook_signature_verify(
        secret="whsec_x", timestamp="1000000", body=body, signature=signature, now=1_000_010
    )
    assert not webhooks.webhook_signature_verify(
        secret="whsec_x", timestamp="1000000", body=b'{"id":"2"}', signature=signature, now=1_000_010
    )
    assert not webhooks.webhook_signature_verify(
        secret="whsec_x", timestamp="1000000", body=body, signature=signature, now=1_000_000 + 3600
    )
    assert not webhooks.webhook_signature_verify(
        secret="whsec_other", timestamp="1000000", body=body, signature=signature, now=1_000_010
    )


def test_a_failing_receiver_is_retried_with_backoff_until_it_succeeds(
    enterprise: Enterprise, receiver: Receiver
) -> None:
    # given a receiver that fails twice, then answers 200
    receiver.statuses = [500, 503, 204]
    _subscribe(enterprise, receiver.url)
    delivery = _publish(enterprise)
    # when the first try fails
    first = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    # then it waits, with a backoff around the base delay, and is not tried again before that
    assert first is not None and first.retry_in_seconds is not None
    assert 8 <= first.retry_in_seconds <= 12
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) is None
    # when it is due again: a second failure doubles the delay
    second = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)
    assert second is not None and 16 <= (second.retry_in_seconds or 0) <= 24
    delivery.refresh_from_db()
    # and the third try succeeds
    third = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert third is not None and third.status == "succeeded"
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 204)
    assert [entry["status_code"] for entry in delivery.log] == [500, 503, 204]
    # the receiver saw the same event three times, each signed afresh
    assert len({post["headers"]["Huibo-Event-Id"] for post in receiver.received}) == 1
    assert len(receiver.received) == 3


def test_the_task_asks_celery_to_retry_and_an_early_rerun_posts_nothing(
    enterprise: Enterprise, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [500, 200]
    _subscribe(enterprise, receiver.url)
    delivery = _publish(enterprise)
    # when the task runs in this process (where Celery runs a retry at once, before it is due)
    tasks.deliver_webhook.apply(args=(delivery.pk,))
    # then Celery was asked to retry, and the early re-run found the delivery not due: one POST only
    assert any("retry: Retry in" in record.getMessage() for record in caplog.records)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.received)) == ("pending", 1, 1)


def test_a_receiver_that_never_succeeds_is_given_up_after_the_last_try(
    enterprise: Enterprise, receiver: Receiver, settings: object
) -> None:
    settings.INTEGRATIONS_WEBHOOK_MAX_ATTEMPTS = 2  # type: ignore[attr-defined]
    receiver.statuses = [500]
    _subscribe(enterprise, receiver.url)
    delivery = _publish(enterprise)
    webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    last = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert last is not None and last.retry_in_seconds is None
    assert (delivery.status, delivery.attempts) == ("failed", 2)


def test_a_slow_receiver_times_out_quickly(enterprise: Enterprise, receiver: Receiver, settings: object) -> None:
    settings.INTEGRATIONS_WEBHOOK_READ_TIMEOUT_SECONDS = 0.3  # type: ignore[attr-defined]
    receiver.delay_seconds = 2.0
    _subscribe(enterprise, receiver.url)
    delivery = _publish(enterprise)
    result = webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert result is not None and result.status_code is None
    assert "Timeout" in delivery.last_error
    assert delivery.log[0]["duration_ms"] < 1500


def test_private_addresses_are_refused_in_production(
    enterprise: Enterprise, receiver: Receiver, settings: object
) -> None:
    settings.INTEGRATIONS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False  # type: ignore[attr-defined]
    _subscribe(enterprise, receiver.url)
    delivery = _publish(enterprise)
    webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert receiver.received == []
    assert "non-public address" in delivery.last_error


def test_a_replay_is_a_new_delivery_of_the_same_event(enterprise: Enterprise, receiver: Receiver) -> None:
    _subscribe(enterprise, receiver.url)
    delivery = _publish(enterprise)
    webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    replay = webhooks.webhook_delivery_replay(delivery=delivery)
    webhooks.webhook_delivery_attempt(delivery_id=replay.pk)
    replay.refresh_from_db()
    assert (replay.status, replay.replay_of_id, replay.event_id) == ("succeeded", delivery.pk, delivery.event_id)
    assert [p["headers"]["Huibo-Event-Id"] for p in receiver.received] == [str(delivery.event_id)] * 2


def test_only_subscribed_events_of_the_own_enterprise_are_published(
    enterprise: Enterprise, other_enterprise: Enterprise, receiver: Receiver
) -> None:
    _subscribe(enterprise, receiver.url, events=["callback.failed"])
    _subscribe(other_enterprise, receiver.url)
    completed = webhooks.webhook_event_publish(
        enterprise_id=enterprise.pk, event_type=webhooks.WebhookEvent.CALLBACK_COMPLETED, data={}
    )
    failed = webhooks.webhook_event_publish(
        enterprise_id=enterprise.pk, event_type=webhooks.WebhookEvent.CALLBACK_FAILED, data={}
    )
    assert completed == []
    assert [d.subscription.enterprise_id for d in failed] == [enterprise.pk]


def test_an_unknown_event_or_a_bad_url_is_refused(enterprise: Enterprise) -> None:
    with pytest.raises(webhooks.IntegrationError) as unknown:
        _subscribe(enterprise, "https://crm.example.com/hook", events=["callback.exploded"])
    with pytest.raises(webhooks.IntegrationError) as bad_url:
        _subscribe(enterprise, "ftp://crm.example.com/hook")
    assert (unknown.value.code, bad_url.value.code) == ("unknown_webhook_event", "invalid_webhook_url")
    assert not WebhookSubscription.objects.exists()


def test_engine_moves_publish_events_only_after_their_transaction_commits(
    enterprise: Enterprise, receiver: Receiver, django_capture_on_commit_callbacks: object
) -> None:
    # given a subscription to every event and a waiting request
    _subscribe(enterprise, receiver.url)
    request = callback_requests.callback_request_create(enterprise=enterprise, visitor_number="+8613900001005")
    # when a cancel is rolled back
    with django_capture_on_commit_callbacks() as rolled_back:  # type: ignore[operator]
        with transaction.atomic():
            callback_requests.request_cancel(request=request)
            transaction.set_rollback(True)
    # then nothing was queued for it, and no delivery exists
    assert run_integrations_callbacks(rolled_back) == 0
    assert not WebhookDelivery.objects.exists()
    # when the cancel commits
    request = CallbackRequest.objects.get(pk=request.pk)
    with django_capture_on_commit_callbacks() as committed:  # type: ignore[operator]
        assert callback_requests.request_cancel(request=request)
    assert not WebhookDelivery.objects.exists()  # nothing inside the engine's transaction
    run_integrations_callbacks(committed)
    # then the request's acceptance and its cancellation are published
    deliveries = WebhookDelivery.objects.order_by("id")
    assert [d.event_type for d in deliveries] == ["callback.accepted", "callback.cancelled"]
    assert [d.payload["data"]["callback"]["status"] for d in deliveries] == ["accepted", "cancelled"]
    assert deliveries[1].payload["data"]["transition"] == {
        "event": "cancel",
        "from_status": "accepted",
        "to_status": "cancelled",
    }


def test_each_event_tells_of_the_request_as_its_move_left_it_though_sent_after_later_moves(
    enterprise: Enterprise, receiver: Receiver, django_capture_on_commit_callbacks: object
) -> None:
    # given a subscription, and a request scheduled for later (nothing of it sent yet)
    _subscribe(enterprise, receiver.url)
    request = callback_requests.callback_request_create(enterprise=enterprise, visitor_number="+8613900001005")
    with django_capture_on_commit_callbacks() as scheduled:  # type: ignore[operator]
        callback_requests.request_transition(request=request, event=Event.SCHEDULE, reason=Reason.ALL_LINES_BUSY)
    # when it is cancelled before the worker sends the first event
    with django_capture_on_commit_callbacks() as cancelled:  # type: ignore[operator]
        callback_requests.request_cancel(request=request)
    run_integrations_callbacks(scheduled)
    run_integrations_callbacks(cancelled)
    # then each body is the request as that move left it
    bodies = {d.event_type: d.payload["data"]["callback"] for d in WebhookDelivery.objects.all()}
    accepted, cancelled = bodies["callback.accepted"], bodies["callback.cancelled"]
    assert (accepted["status"], accepted["is_final"], accepted["reason_code"], accepted["finished_at"]) == (
        "accepted",
        False,
        "",
        None,
    )
    assert (cancelled["status"], cancelled["is_final"], cancelled["reason_code"]) == ("cancelled", True, "cancelled")
    assert cancelled["finished_at"] is not None
    # and each is dated when it happened, not when the worker sent it
    request.refresh_from_db()
    dated = {d.event_type: d.payload["created_at"] for d in WebhookDelivery.objects.all()}
    assert dated == {
        "callback.accepted": request.created_at.isoformat(),
        "callback.cancelled": request.updated_at.isoformat(),
    }


def test_a_broken_hook_never_breaks_the_engine(
    enterprise: Enterprise, django_capture_on_commit_callbacks: object, settings: object
) -> None:
    # given Redis (metrics) pointing at a closed port
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    request = callback_requests.callback_request_create(enterprise=enterprise, visitor_number="+8613900001005")
    # when the engine moves the request and the hook's work runs
    with django_capture_on_commit_callbacks() as committed:  # type: ignore[operator]
        moved = callback_requests.request_transition(request=request, event=Event.FAIL, reason=Reason.NODE_LOST)
    run_integrations_callbacks(committed)
    # then the move stands
    request.refresh_from_db()
    assert moved and request.status == "failed"


def test_the_sweeper_requeues_deliveries_whose_task_was_lost(
    enterprise: Enterprise, receiver: Receiver, django_capture_on_commit_callbacks: object
) -> None:
    _subscribe(enterprise, receiver.url)
    delivery = _publish(enterprise)
    later = timezone.now() + timedelta(minutes=5)
    with django_capture_on_commit_callbacks() as queued:  # type: ignore[operator]
        assert webhooks.webhook_deliveries_dispatch_due(now=later) == 1
    assert len(queued) == 1
    assert webhooks.webhook_deliveries_dispatch_due(now=timezone.now()) == 0
    assert delivery.status == "pending"
