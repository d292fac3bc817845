"""docker-compose.yml runs the operations side: a readiness healthcheck on web and a worker for the webhook queue."""

from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())


def test_web_is_health_checked_on_readyz() -> None:
    healthcheck = COMPOSE["services"]["web"]["healthcheck"]
    assert "http://127.0.0.1:8000/readyz" in " ".join(healthcheck["test"])


def test_a_worker_consumes_the_webhook_queue_and_the_call_worker_does_not() -> None:
    services = COMPOSE["services"]
    assert "--queues=webhooks" in services["worker-webhooks"]["command"]
    assert not any(arg.startswith(("--queues", "-Q")) for arg in services["worker"]["command"])
