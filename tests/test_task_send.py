"""huibo.celery.task_send: the message kombu would publish, pushed for less CPU (the widget's accept path)."""

import json
import uuid
from typing import Any

import pytest
import redis
from django.conf import settings

from callback import tasks
from huibo.celery import _ListProducer, app

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis broker is what task_send speeds up")


def _pushed(queue: str) -> dict[str, Any]:
    client = redis.Redis.from_url(app.conf.broker_url)
    (raw,) = client.lrange(queue, 0, -1)
    client.delete(queue)
    message: dict[str, Any] = json.loads(raw)
    for volatile in ("id", "root_id", "origin"):
        message["headers"].pop(volatile)
    for volatile in ("correlation_id", "delivery_tag"):
        message["properties"].pop(volatile)
    return message


def test_the_pushed_message_is_the_one_kombu_publishes() -> None:
    # given a queue no worker reads
    queue = f"test-task-send-{uuid.uuid4().hex}"
    # when the same task is queued through kombu and through the list producer
    tasks.place_attempt.apply_async((41, 2), queue=queue)
    through_kombu = _pushed(queue)
    tasks.place_attempt.apply_async((41, 2), queue=queue, producer=_ListProducer(app.connection_for_write()))
    through_list = _pushed(queue)
    # then a worker receives the same message, body, headers and routing
    assert through_list == through_kombu
    assert through_list["properties"]["delivery_info"] == {"exchange": "", "routing_key": queue}
