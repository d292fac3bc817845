"""A real gunicorn serving Huibo from the test database, for tests that need several processes at once.

The server's workers share the test's store prefix, so the test can seed captchas and read counters; nothing
it does reaches the shared Celery broker (tasks run eagerly, and the tests that use it keep their enterprise
closed so that no task is even queued).
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{quote(db['USER'])}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def gunicorn(*, workers: int = 4, env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[str]:
    """Run gunicorn on a free port until the block ends; yields its base URL."""
    port = free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "huibo.settings",
        "DATABASE_URL": database_url(),
        "DATABASE_CONN_MAX_AGE": "60",
        "REDIS_URL": settings.REDIS_URL,
        "WIDGET_REDIS_URL": settings.WIDGET_REDIS_URL,
        "WIDGET_REDIS_KEY_PREFIX": settings.WIDGET_REDIS_KEY_PREFIX,
        "SECRET_KEY": "widget-test-server",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    output = log.open("ab") if log else subprocess.DEVNULL
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "huibo.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--backlog",
        "2048",
        "--preload",  # import Django once, then fork: the workers start in a fraction of the time
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=output)
    try:
        _wait_until_serving(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if log:
            output.close()  # type: ignore[union-attr]


def _wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/widget/warm-up.js")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start in time")


def post_json(base: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    host = base.split("://", 1)[1]
    connection = http.client.HTTPConnection(host, timeout=60)
    try:
        connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "text/plain", **headers})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()
