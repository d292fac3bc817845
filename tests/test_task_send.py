"""huibo.celery.task_send: the message Celery and kombu would publish, pushed for less CPU (every accepted widget
submission queues one)."""

import json
import uuid
from typing import Any

import pytest
import redis
from celery.app.routes import Router, prepare
from django.conf import settings

from huibo.celery import app, task_send
from integrations import logs

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="task_send speeds up the Redis broker only")
QUEUE = f"test-task-send-{uuid.uuid4().hex}"  # no worker reads it


@app.task(name="tests.task_send_probe")
def probe(request_id: int, attempt_number: int) -> None:
    """A task like place_attempt."""


@pytest.fixture(autouse=True)
def probe_routed_to_its_own_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a task_routes setting would route it (Celery reads that setting once per process)."""
    routes = prepare({probe.name: {"queue": QUEUE}})
    monkeypatch.setattr(app.amqp, "router", Router(routes, app.amqp.queues, True, app=app))


def _pushed() -> dict[str, Any]:
    client = redis.Redis.from_url(app.conf.broker_url)
    (raw,) = client.lrange(QUEUE, 0, -1)
    client.delete(QUEUE)
    message: dict[str, Any] = json.loads(raw)
    assert message["headers"]["id"] == message["headers"]["root_id"] == message["properties"]["correlation_id"]
    for volatile in ("id", "root_id"):
        message["headers"].pop(volatile)
    for volatile in ("correlation_id", "delivery_tag"):
        message["properties"].pop(volatile)
    return message


def test_every_message_task_send_pushes_is_the_one_celery_publishes() -> None:
    # given: a web request's id, which travels in the task's headers
    token = logs.bind_request_id("req-1")
    try:
        # when the task is queued through Celery, then twice through task_send (the first builds its template)
        sent: list[dict[str, Any]] = []
        for send in (probe.delay, lambda *args: task_send(probe, *args), lambda *args: task_send(probe, *args)):
            send(41, 2)
            sent.append(_pushed())
    finally:
        logs.unbind_request_id(token)
    # then a worker receives the same message each time: body, headers (the request id too), routing
    assert sent[1] == sent[0] and sent[2] == sent[0]
    assert sent[0]["headers"]["huibo_request_id"] == "req-1"
    assert sent[0]["properties"]["delivery_info"] == {"exchange": "", "routing_key": QUEUE}
