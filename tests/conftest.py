"""The whole engine, for end-to-end tests: the real path and nothing faked.

A PBX simulator speaking AMI over TCP (time-compressed), a Celery worker consuming the real Redis
broker, the AMI listener with its own event loop, and PostgreSQL with committed transactions, plus a
stand-in for beat that dispatches due requests. Every request a test submits goes through
callback_request_create exactly as the widget's does.
"""

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection

from asterisk.simulator import SimulatorThread
from callback.ami import get_default_pool
from callback.listener import run_listener
from callback.models import AsteriskNode, CallAttempt, CallbackRequest
from callback.services.requests import callback_request_create, requests_dispatch_due
from callback.statemachine import FINAL_STATUSES, Status
from huibo.celery import app as celery_app

# 20x faster than real time: a 1 s ring takes 50 ms.
TIME_SCALE = 0.05
SECRET = "e2e-secret"


@dataclass
class Engine:
    pbx: SimulatorThread
    node: AsteriskNode

    def submit(self, enterprise, visitor_number: str) -> CallbackRequest:  # type: ignore[no-untyped-def]
        return callback_request_create(enterprise=enterprise, visitor_number=visitor_number)

    def wait_final(self, request: CallbackRequest, timeout: float = 30.0) -> CallbackRequest:
        try:
            return wait_for(lambda: _final_or_none(request), timeout, f"request {request.pk} to end")  # type: ignore[return-value]
        except AssertionError as timeout_error:
            history = list(request.events.values_list("to_status", "reason_code"))
            attempts = list(request.attempts.values_list("status", "outcome"))
            node = AsteriskNode.objects.filter(pk=self.node.pk).values("ami_state", "booted_at").first()
            raise AssertionError(f"{timeout_error}: history {history}, attempts {attempts}, node {node}") from None

    def originates(self) -> int:
        """How many calls Asterisk placed."""
        return len(self.pbx.call(lambda: _first_leg_starts(self.pbx.simulator.server.bus.history)))  # type: ignore[union-attr]

    def dials_per_attempt_request(self) -> dict[int, int]:
        """Request id → how many calls Asterisk placed for it."""
        starts = self.pbx.call(lambda: _first_leg_starts(self.pbx.simulator.server.bus.history))  # type: ignore[union-attr]
        by_channel = dict(CallAttempt.objects.values_list("channel_id", "request_id"))
        counts: dict[int, int] = {}
        for channel_id in starts:
            counts[by_channel[channel_id]] = counts.get(by_channel[channel_id], 0) + 1
        return counts


def _first_leg_starts(history: list[object]) -> list[str]:
    """Linkedids of every call Asterisk began (its first-leg ;1 channel), one per Originate it acted on."""
    return [
        _field(event.fields, "Uniqueid") or ""  # type: ignore[attr-defined]
        for event in history
        if event.name == "Newchannel" and _field(event.fields, "Uniqueid") == _field(event.fields, "Linkedid")  # type: ignore[attr-defined]
    ]


def _field(fields: object, key: str) -> str | None:
    return next((value for name, value in fields if name == key), None)  # type: ignore[attr-defined]


def _final_or_none(request: CallbackRequest) -> CallbackRequest | None:
    request.refresh_from_db()
    return request if Status(request.status) in FINAL_STATUSES else None


def wait_for(probe: Callable[[], object], timeout: float, what: str) -> object:
    """Await a condition the engine reaches on its own threads; the database is the only shared view."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    recordings = tmp_path_factory.mktemp("recordings")
    with SimulatorThread(
        time_scale=TIME_SCALE, secret=SECRET, keep_history=True, recordings_dir=recordings
    ) as simulator:
        yield simulator


@pytest.fixture
def engine(transactional_db: None, pbx: SimulatorThread, settings) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    settings.AMI_PING_INTERVAL_SECONDS = 0.5
    settings.AMI_PING_TIMEOUT_SECONDS = 0.5
    settings.AMI_ACTION_TIMEOUT_SECONDS = 2.0
    settings.CDR_RECORDINGS_DIR = pbx.simulator.server.pbx.settings.recordings_dir  # type: ignore[union-attr]
    node = AsteriskNode.objects.create(name="sim", host="127.0.0.1", port=pbx.port, username="huibo", secret=SECRET)
    # A queue of our own on the shared Redis: nobody else's tasks reach this worker, ours reach no one else.
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    celery_app.conf.task_default_queue = queue
    stop = threading.Event()
    listener_stop: dict[str, asyncio.Event] = {}
    loop_ready = threading.Event()

    def listen() -> None:
        async def main() -> None:
            listener_stop["event"] = asyncio.Event()
            loop_ready.set()
            await run_listener(stop=listener_stop["event"], node_refresh_seconds=0.2)

        loop = asyncio.new_event_loop()
        listener_stop["loop"] = loop  # type: ignore[assignment]
        loop.run_until_complete(main())
        loop.close()

    def dispatch() -> None:  # what beat does every few seconds in production
        while not stop.wait(0.1):
            requests_dispatch_due()
        connection.close()

    listener = threading.Thread(target=listen, name="e2e-listener", daemon=True)
    dispatcher = threading.Thread(target=dispatch, name="e2e-beat", daemon=True)
    with start_worker(celery_app, pool="threads", concurrency=4, perform_ping_check=False, queues=[queue]):
        listener.start()
        loop_ready.wait(5)
        dispatcher.start()
        wait_for(lambda: AsteriskNode.objects.filter(pk=node.pk, ami_state="up").exists(), 10, "the listener's login")
        yield Engine(pbx=pbx, node=node)
        stop.set()
        loop = listener_stop["loop"]
        loop.call_soon_threadsafe(listener_stop["event"].set)  # type: ignore[attr-defined]
        listener.join(10)
        dispatcher.join(5)
    celery_app.conf.task_default_queue = "celery"
    get_default_pool().close()  # the worker's AMI links would go on redialling this test's simulator
