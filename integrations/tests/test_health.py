"""/healthz and /readyz: readiness turns false when Redis, a worker or an Asterisk node goes away."""

import time

import pytest
from django.test import Client, override_settings

from callback.models import AsteriskNode
from callback.services import nodes as node_services
from integrations.services import heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture
def healthy(db: None, settings: object) -> AsteriskNode:
    """A stack where everything answers: a node logged in, a worker heartbeat on each queue."""
    node = AsteriskNode.objects.create(name="pbx-1", host="127.0.0.1", username="huibo", secret="s")
    node_services.node_mark_up(node=node, uptime_seconds=100)
    for queue in ("celery", settings.INTEGRATIONS_WEBHOOK_QUEUE):  # type: ignore[attr-defined]
        heartbeat.worker_heartbeat_record(queue=queue)
    return node


def test_liveness_answers_without_looking_at_anything(db: None) -> None:
    response = Client().get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_ready_when_database_redis_workers_and_nodes_answer(healthy: AsteriskNode) -> None:
    response = Client().get("/readyz")
    body = response.json()
    assert (response.status_code, body["status"]) == (200, "ready")
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "workers": True,
        "asterisk": True,
    }


def test_not_ready_when_redis_goes_away(healthy: AsteriskNode) -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = Client().get("/readyz")
    body = response.json()
    assert (response.status_code, body["status"]) == (503, "not_ready")
    assert body["checks"]["redis"]["ok"] is False
    assert "Connection" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["ok"] is True


def test_not_ready_when_a_node_is_marked_down(healthy: AsteriskNode) -> None:
    node_services.node_mark_down(node=healthy, reason="connection refused")
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["asterisk"] == {
        "ok": False,
        "detail": "AMI not up: pbx-1",
        "nodes": {"pbx-1": {"ami_state": "down", "reason": "connection refused"}},
    }


def test_a_disabled_node_does_not_count(healthy: AsteriskNode) -> None:
    AsteriskNode.objects.create(name="old", host="10.0.0.9", username="u", secret="s", enabled=False, ami_state="down")
    assert Client().get("/readyz").status_code == 200


def test_not_ready_when_no_worker_ran_the_heartbeat_lately(healthy: AsteriskNode, settings: object) -> None:
    stale = time.time() - settings.INTEGRATIONS_WORKER_HEARTBEAT_MAX_AGE_SECONDS - 1  # type: ignore[attr-defined]
    heartbeat.worker_heartbeat_record(queue="celery", at=stale)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert "celery" in response.json()["checks"]["workers"]["detail"]


def test_probes_answer_whatever_host_they_use(healthy: AsteriskNode, settings: object) -> None:
    """An orchestrator probes by IP or service name, which ALLOWED_HOSTS does not list."""
    settings.ALLOWED_HOSTS = ["huibo.example.com"]  # type: ignore[attr-defined]
    assert Client().get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert Client().get("/readyz", HTTP_HOST="web:8000").status_code == 200
    assert Client().get("/portal/", HTTP_HOST="web:8000").status_code == 400
