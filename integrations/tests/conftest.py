"""Fixtures of the integrations tests: API keys built through our services, a private Redis key space per test,
and a real HTTP receiver on 127.0.0.1 for webhooks."""

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rest_framework.test import APIClient

from integrations import metrics, redis_store
from integrations.services import api_keys
from tenants.models import Enterprise


@pytest.fixture(autouse=True)
def redis_key_space(settings: Any) -> Iterator[str]:
    """Every Redis key this test writes starts with its own prefix, deleted afterwards (never FLUSHDB: the
    Redis is shared with the other developers' test runs)."""
    prefix = f"huibo-test:{uuid.uuid4().hex}:"
    url = settings.REDIS_URL
    settings.INTEGRATIONS_REDIS_PREFIX = prefix
    settings.WIDGET_REDIS_KEY_PREFIX = f"{prefix}widget:"
    settings.INTEGRATIONS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    metrics._breaker.reset()
    yield prefix
    metrics._breaker.reset()
    client = redis_store.client(url=url)
    if client is not None:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        keys += list(client.scan_iter(match=f":1:{prefix}*", count=500))  # Django cache keys
        if keys:
            client.delete(*keys)


@dataclass(frozen=True)
class KeyedClient:
    client: APIClient
    secret: str
    enterprise: Enterprise | None


def _keyed(enterprise: Enterprise | None, name: str) -> KeyedClient:
    created = api_keys.api_key_create(name=name, enterprise=enterprise)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.secret}")
    return KeyedClient(client=client, secret=created.secret, enterprise=enterprise)


@pytest.fixture
def api(enterprise: Enterprise) -> KeyedClient:
    return _keyed(enterprise, "acme server")


@pytest.fixture
def other_api(other_enterprise: Enterprise) -> KeyedClient:
    return _keyed(other_enterprise, "globex server")


@pytest.fixture
def operator_api(db: None) -> KeyedClient:
    return _keyed(None, "operator reports")


@dataclass
class Receiver:
    """A webhook receiver: answers each POST with the next scripted status (the last one repeats)."""

    url: str
    statuses: list[int]
    delay_seconds: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="", statuses=[200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            index = len(state.received)
            state.received.append({"headers": dict(self.headers), "body": body})
            if state.delay_seconds:
                threading.Event().wait(state.delay_seconds)
            status = state.statuses[min(index, len(state.statuses) - 1)]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"ok": status < 300}).encode())

        def log_message(self, *args: object) -> None:
            """Quiet: the test reads ``received``."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/huibo"
    yield state
    server.shutdown()
    server.server_close()


def run_integrations_callbacks(callbacks: list[Callable[[], object]]) -> int:
    """Run the on-commit callbacks integrations registered, and only those (the engine's would queue Celery
    tasks on the shared broker); the integrations tasks they queue run at once, as a worker would run them."""
    from huibo.celery import app

    ran = 0
    app.conf.task_always_eager = True
    try:
        for callback in callbacks:
            if getattr(callback, "__module__", "").startswith("integrations."):
                callback()
                ran += 1
    finally:
        app.conf.task_always_eager = False
    return ran


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                return sample.value
    return None


__all__ = ["KeyedClient", "Receiver", "metric_value", "run_integrations_callbacks"]


@pytest.fixture(autouse=True)
def forget_webhook_subscriptions() -> None:
    """The listener remembers for a few seconds whether an enterprise has webhooks; each test starts afresh."""
    from integrations.services import events

    events._subscribed.clear()
