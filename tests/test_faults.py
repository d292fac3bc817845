"""R1 and R2 of RELIABILITY.md against the real path: the AMI link that carries an Originate is cut at
random points, and still no callback is ever dialled twice and every request ends.

A TCP proxy sits between Huibo and the PBX simulator. Whenever an Originate passes through it, the proxy
picks one fate: cut the link before Asterisk sees the action, cut it after Asterisk got it but before the
reply comes back, or let it through. The listener's link, which never sends an Originate, passes untouched.
"""

import asyncio
import random
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from callback.models import AsteriskNode, CallbackRequest
from callback.services.outcomes import attempts_reap
from tests.conftest import Engine, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACKS = 30
FATES = ("cut_before_asterisk", "cut_before_reply", "pass")


class OriginateCuttingProxy:
    def __init__(self, upstream_port: int, seed: int) -> None:
        self.upstream_port = upstream_port
        self.random = random.Random(seed)
        self.fates: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "OriginateCuttingProxy":
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
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

        async def to_client() -> None:
            while data := await upstream_reader.read(65536):
                if replies_blocked.is_set():
                    return
                client_writer.write(data)
                await client_writer.drain()

        async def to_upstream() -> None:
            buffer = b""
            while data := await client_reader.read(65536):
                buffer += data
                while b"\r\n\r\n" in buffer:
                    message, buffer = buffer.split(b"\r\n\r\n", 1)
                    fate = self.random.choice(FATES) if b"Action: Originate" in message else "pass"
                    if fate != "pass":
                        self.fates.append(fate)
                    if fate == "cut_before_asterisk":
                        return
                    upstream_writer.write(message + b"\r\n\r\n")
                    await upstream_writer.drain()
                    if fate == "cut_before_reply":
                        replies_blocked.set()
                        return

        await asyncio.wait(
            [asyncio.ensure_future(to_client()), asyncio.ensure_future(to_upstream())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        client_writer.transport.abort()  # a reset, as a broken link looks
        upstream_writer.close()


@pytest.fixture
def proxy(engine: Engine) -> Iterator[OriginateCuttingProxy]:
    cutting = OriginateCuttingProxy(engine.pbx.port, seed=20261122).start()
    AsteriskNode.objects.filter(pk=engine.node.pk).update(port=cutting.port)
    yield cutting
    cutting.stop()


def test_no_callback_is_dialled_twice_when_the_originate_link_breaks(
    engine: Engine, proxy: OriginateCuttingProxy
) -> None:
    # given
    from tests.test_end_to_end import _enterprise

    enterprise = _enterprise(*[f"+86138{i:04d}1005" for i in range(CALLBACKS)], max_concurrent_calls=CALLBACKS)
    # when: callbacks are submitted while the proxy cuts the worker's AMI link at random
    requests = [engine.submit(enterprise, f"+86139{i:04d}1002") for i in range(CALLBACKS)]
    wait_for(
        lambda: not CallbackRequest.objects.filter(status__in=["accepted", "scheduled"]).exists(), 30, "placements"
    )
    wait_for(lambda: not engine.pbx.channels(), 30, "every call Asterisk placed to end")
    # Attempts Asterisk never heard of are left to the reaper; run it as if its grace had passed.
    attempts_reap(now=timezone.now() + timedelta(minutes=10))
    for request in requests:
        engine.wait_final(request)
    # then
    assert {"cut_before_asterisk", "cut_before_reply"} <= set(proxy.fates)
    dials_per_request = engine.dials_per_attempt_request()
    assert max(dials_per_request.values()) == 1
    assert not CallbackRequest.objects.exclude(status__in=["completed", "failed"]).exists()
