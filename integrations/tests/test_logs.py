"""Request ids through web and Celery, and the JSON log format."""

import json
import logging

import pytest
from django.test import Client

from integrations import logs, tasks
from integrations.tests.conftest import KeyedClient

pytestmark = pytest.mark.django_db


def test_a_request_id_is_made_and_sent_back(db: None) -> None:
    response = Client().get("/healthz")
    assert len(response["X-Request-ID"]) == 32


def test_a_callers_request_id_is_kept_and_a_malformed_one_replaced(api: KeyedClient) -> None:
    kept = api.client.get("/api/v1/balance/", HTTP_X_REQUEST_ID="lb-7f3a.1")
    replaced = api.client.get("/api/v1/balance/", HTTP_X_REQUEST_ID="bad id\nInjected: yes")
    assert kept["X-Request-ID"] == "lb-7f3a.1"
    assert replaced["X-Request-ID"] != "bad id\nInjected: yes" and len(replaced["X-Request-ID"]) == 32


def _json_line(record: logging.LogRecord) -> dict[str, object]:
    logs.RequestIdFilter().filter(record)
    return json.loads(logs.JsonFormatter().format(record))


def test_json_lines_carry_the_request_id_and_extra_fields() -> None:
    token = logs.bind_request_id("req-1")
    try:
        record = logging.LogRecord("callback.services.requests", logging.INFO, __file__, 1, "moved %s", ("x",), None)
        record.correlation_id = "c-9"
        line = _json_line(record)
    finally:
        logs.unbind_request_id(token)
    assert {k: line[k] for k in ("level", "logger", "message", "request_id", "correlation_id")} == {
        "level": "INFO",
        "logger": "callback.services.requests",
        "message": "moved x",
        "request_id": "req-1",
        "correlation_id": "c-9",
    }


def test_the_request_id_travels_in_a_celery_tasks_headers(caplog: pytest.LogCaptureFixture) -> None:
    # given a task published while a web request is being served
    token = logs.bind_request_id("req-42")
    headers: dict[str, object] = {}
    try:
        logs._on_publish(headers=headers)
    finally:
        logs.unbind_request_id(token)
    assert headers == {logs.REQUEST_ID_HEADER: "req-42"}
    # when a worker runs it with those headers
    caplog.set_level(logging.INFO)
    result = tasks.worker_heartbeat.apply(args=("celery",), headers=headers, task_id="t-1")
    # then its log lines carry the request id and the task id; outside the task, nothing is left behind
    [record] = [r for r in caplog.records if r.getMessage().startswith("Task integrations.tasks.worker_heartbeat")]
    line = _json_line(record)
    assert result.successful()
    assert (line["request_id"], line["task_id"]) == ("req-42", "t-1")
    assert logs.current_request_id() is None
    assert "task_id" not in _json_line(logging.LogRecord("x", logging.INFO, __file__, 1, "after", (), None))
