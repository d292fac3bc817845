"""Replay a recorded transcript to a client, byte for byte: what a real Asterisk 22 sent, with its timing.

Connection N of the client gets recorded connection N (``.ami.txt``; ``.connN.ami.raw`` hold the same
bytes). The banner goes out at once; everything after it waits for the client's first action (its Login)
and then follows the recorded times, relative to the recorded time of that action, scaled by
``time_scale``. The connection is closed where the recording saw Asterisk close it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

from .protocol import BANNER, ActionReader
from .transcript import Closed, Transcript, load

log = logging.getLogger(__name__)


class ReplaySession(asyncio.Protocol):
    def __init__(self, server: ReplayServer, conn: int) -> None:
        self.server = server
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.reader = ActionReader()
        self.started = False
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        log.info("simulator.replay.connect conn=%s transcript=%s", self.conn, self.server.transcript.name)
        messages = self.server.transcript.received(self.conn)
        if not messages:
            transport.close()
            return
        if messages[0].raw == BANNER:
            transport.write(BANNER)

    def data_received(self, data: bytes) -> None:
        if self.started:
            return
        for _ in self.reader.feed(data):
            self.started = True
            self.task = asyncio.get_running_loop().create_task(self._stream())
            break

    def connection_lost(self, exc: Exception | None) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _stream(self) -> None:
        transcript, scale = self.server.transcript, self.server.time_scale
        loop = asyncio.get_running_loop()
        start = loop.time()
        sends = transcript.sent(self.conn)
        origin = sends[0].t if sends else 0.0
        messages = transcript.received(self.conn)
        if messages and messages[0].raw == BANNER:
            messages = messages[1:]
        closes = [i.t for i in transcript.items if isinstance(i, Closed) and i.conn == self.conn]
        assert self.transport is not None
        for message in messages:
            delay = start + max(0.0, message.t - origin) * scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.transport.write(message.raw)
        if closes:
            delay = start + max(0.0, closes[0] - origin) * scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.transport.close()


class ReplayServer:
    def __init__(self, path: str | Path, host: str = "127.0.0.1", port: int = 0, time_scale: float = 1.0) -> None:
        self.transcript: Transcript = load(path)
        self.host = host
        self.port = port
        self.time_scale = time_scale
        self._counter = itertools.count(1)
        self._server: asyncio.base_events.Server | None = None
        self.bound_port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ReplaySession(self, next(self._counter)), self.host, self.port, reuse_address=True
        )
        self.bound_port = self._server.sockets[0].getsockname()[1]
        log.info("simulator.replay.listening port=%s transcript=%s", self.bound_port, self.transcript.name)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
