"""R1 and R2 of RELIABILITY.md against the real path: the AMI link that carries an Originate is cut at
random points, or the worker process that sent it is killed, and still no callback is ever dialled twice
and every request ends.

A TCP proxy sits between Huibo and the PBX simulator. Whenever an Originate passes through it, the proxy
gives it a fate: cut the link before Asterisk sees the action, cut it after Asterisk got it but before the
reply comes back, hold the reply back (while the test kills the worker waiting for it), or let it through.
The listener's link, which never sends an Originate, passes untouched.

The runs are sized for the suite; HUIBO_FAULT_CALLBACKS and HUIBO_FAULT_KILLS scale them up to the
1,000 and 100 of R1.
"""

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from callback.models import AsteriskNode, CallAttempt, CallbackRequest
from callback.services.outcomes import attempts_reap
from huibo.celery import app as celery_app
from tests.conftest import Engine, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACKS = int(os.environ.get("HUIBO_FAULT_CALLBACKS", "30"))
KILLS = int(os.environ.get("HUIBO_FAULT_KILLS", "6"))
CUT_FATES = ("cut_before_asterisk", "cut_before_reply", "pass")
ROOT = Path(__file__).resolve().parents[1]


class OriginateProxy:
    def __init__(self, upstream_port: int, choose_fate: Callable[[], str]) -> None:
        self.upstream_port = upstream_port
        self.choose_fate = choose_fate
        self.fates: list[str] = []
        # Set while the reply to an Originate is held back (fate "hold_reply").
        self.holding = threading.Event()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "OriginateProxy":
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        self.holding.set()  # nothing waits on a held reply any more
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._session, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _session(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        replies_blocked = asyncio.Event()
        replies_held = asyncio.Event()

        async def to_client() -> None:
            while data := await upstream_reader.read(65536):
                if replies_blocked.is_set():
                    return
                if replies_held.is_set():
                    await asyncio.sleep(30)  # the worker waiting for this reply is killed meanwhile
                client_writer.write(data)
                await client_writer.drain()

        async def to_upstream() -> None:
            buffer = b""
            while data := await client_reader.read(65536):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    message, buffer = buffer.split(b"\r\n\r\n", 1)
                    fate = self.choose_fate() if b"Action: Originate" in message else "pass"
                    if fate != "pass":
                        self.fates.append(fate)
                    if fate == "cut_before_asterisk":
                        return
                    upstream_writer.write(message + b"\r\n\r\n")
                    await upstream_writer.drain()
                    if fate == "cut_before_reply":
                        replies_blocked.set()
                        return
                    if fate == "hold_reply":
                        replies_held.set()
                        self.holding.set()

        _done, pending = await asyncio.wait(
            [asyncio.ensure_future(to_client()), asyncio.ensure_future(to_upstream())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        for task in pending:
            task.cancel()
        client_writer.transport.abort()  # a reset, as a broken link looks
        upstream_writer.close()


def _proxied(engine: Engine, choose_fate: Callable[[], str]) -> Iterator[OriginateProxy]:
    proxy = OriginateProxy(engine.pbx.port, choose_fate).start()
    AsteriskNode.objects.filter(pk=engine.node.pk).update(port=proxy.port)
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(engine: Engine) -> Iterator[OriginateProxy]:
    fates = random.Random(20261122)
    yield from _proxied(engine, lambda: fates.choice(CUT_FATES))


@pytest.fixture
def holding_proxy(engine: Engine) -> Iterator[OriginateProxy]:
    yield from _proxied(engine, lambda: "hold_reply")


@pytest.mark.timeout(120 + CALLBACKS // 2)
def test_no_callback_is_dialled_twice_when_the_originate_link_breaks(
    engine: Engine, proxy: OriginateProxy, settings
) -> None:  # type: ignore[no-untyped-def]
    # given
    from tests.test_end_to_end import _enterprise

    settings.BILLING_PUMPING_MIN_CALLS = 1_000_000  # many short calls from one enterprise are not pumping here

    enterprise = _enterprise(*[f"+86138{i:04d}1005" for i in range(CALLBACKS)], max_concurrent_calls=CALLBACKS)
    # when: callbacks are submitted while the proxy cuts the worker's AMI link at random
    requests = [engine.submit(enterprise, f"+86139{i:04d}1002") for i in range(CALLBACKS)]
    wait_for(
        lambda: not CallbackRequest.objects.filter(status__in=["accepted", "scheduled"]).exists(),
        30 + CALLBACKS / 3,  # a third of the Originates wait out the 2 s action timeout, four at a time
        "placements",
    )
    wait_for(lambda: not engine.pbx.channels(), 30 + CALLBACKS / 10, "every call Asterisk placed to end")
    # Attempts Asterisk never heard of are left to the reaper; run it as if its grace had passed.
    attempts_reap(now=timezone.now() + timedelta(minutes=10))
    for request in requests:
        engine.wait_final(request)
    # then
    assert {"cut_before_asterisk", "cut_before_reply"} <= set(proxy.fates)
    dials_per_request = engine.dials_per_attempt_request()
    assert max(dials_per_request.values()) == 1
    assert not CallbackRequest.objects.exclude(status__in=["completed", "failed"]).exists()


class PreforkWorker:
    """A Celery worker as production runs it: its own process, a prefork pool of one child."""

    def __init__(self, queue: str, log: Path) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "huibo.settings",
            "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": "worker-kill-test",
            "HUIBO_ASTERISK_NODES": "",
            # Many short calls from one enterprise: billing's pumping check would rightly suspend it (S7).
            "BILLING_PUMPING_MIN_CALLS": "1000000",
        }
        command = [sys.executable, "-m", "celery", "-A", "huibo", "worker", "-P", "prefork", "-c", "1"]
        command += ["-Q", queue, "-l", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"]
        self.log = log
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def child(self) -> int | None:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0]) if children else None

    def tasks_received(self) -> int:
        return len(re.findall(r"Task callback\.tasks\.place_attempt\[[^]]+\] received", self.log.read_text()))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


@pytest.mark.timeout(60 + 5 * KILLS)
def test_a_worker_killed_while_placing_a_call_places_it_once(
    engine: Engine, holding_proxy: OriginateProxy, tmp_path: Path
) -> None:
    # given: placing tasks go to a prefork worker process; Asterisk holds back its reply to every Originate
    from tests.test_end_to_end import _enterprise

    enterprise = _enterprise(*[f"+86138{i:04d}1005" for i in range(KILLS)], max_concurrent_calls=KILLS)
    queue = f"kill-{uuid.uuid4().hex[:8]}"
    worker = PreforkWorker(queue, tmp_path / "worker.log")
    celery_app.conf.task_default_queue = queue
    try:
        wait_for(worker.child, 30, "the worker's pool child")
        requests = []
        for i in range(KILLS):
            holding_proxy.holding.clear()
            # when: the child is killed while it waits for Asterisk's reply to the Originate it sent
            requests.append(engine.submit(enterprise, f"+86139{i:04d}1002"))
            wait_for(holding_proxy.holding.is_set, 30, "the Originate to reach Asterisk")
            assert CallAttempt.objects.filter(request=requests[-1]).exists()
            child = wait_for(worker.child, 30, "the pool child")  # the only one: the one waiting for the reply
            os.kill(child, signal.SIGKILL)  # type: ignore[arg-type]
            wait_for(lambda killed=child: worker.child() not in (None, killed), 30, "a new pool child")
        for request in requests:
            engine.wait_final(request)
        # then: each task ran again after its worker died, and none dialled a second time
        wait_for(lambda: worker.tasks_received() >= 2 * KILLS, 30, "every killed task to be delivered again")
    finally:
        worker.stop()
    assert max(engine.dials_per_attempt_request().values()) == 1
    assert engine.originates() == KILLS
    assert {r.status for r in CallbackRequest.objects.filter(pk__in=[r.pk for r in requests])} == {"completed"}
