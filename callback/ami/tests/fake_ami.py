"""A scriptable fake Asterisk AMI server speaking raw bytes, for the ``callback.ami`` tests.

Deliberately small and independent of the PBX simulator (asterisk/simulator/): it answers Login, Ping, Logoff,
Originate and CoreShowChannels with the framing recorded from a real Asterisk 22 (shared/asterisk/transcripts),
records every action it receives, and can be told to misbehave: refuse the login, boot late, stop answering on one
connection (a half-open link as the client sees it), drop the link when a given action arrives, or send any bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from callback.ami import AmiMessage

P = ParamSpec("P")
T = TypeVar("T")

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
ActionDict = dict[str, str | list[str]]
Script = Callable[["FakeConn", ActionDict], Awaitable[None]]


def async_test(timeout: float = 10.0) -> Callable[[Callable[P, Coroutine[Any, Any, None]]], Callable[P, None]]:
    """Run an ``async def`` test with ``asyncio.run`` (no pytest-asyncio in this project), bounded by ``timeout``."""

    def decorate(fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout))

        return run

    return decorate


def message(*lines: str) -> bytes:
    """``message("Event: X", "A: 1")`` -> the CRLF-framed bytes of one AMI message."""
    return ("".join(f"{line}\r\n" for line in lines) + "\r\n").encode()


def parse_action(raw: bytes) -> ActionDict:
    action: ActionDict = {}
    for line in raw.decode().split("\r\n"):
        key, _, value = line.partition(": ")
        if key in action:
            existing = action[key]
            action[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            action[key] = value
    return action


class FakeConn:
    """One accepted client connection."""

    def __init__(self, server: FakeAmi, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server = server
        self.index = index
        self.reader = reader
        self.writer = writer
        self.logged_in = False
        self.events_on = True
        self.mute = False  # read everything, answer nothing: what a half-open link looks like to the client
        self.closed = asyncio.Event()

    def send(self, data: bytes) -> None:
        if not self.mute and not self.writer.is_closing():
            self.writer.write(data)

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    def abort(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


class FakeAmi:
    """``async with FakeAmi() as fake:`` listens on 127.0.0.1 (``fake.port``) until the block ends."""

    def __init__(self, *, uptime: int = 1000) -> None:
        self.uptime = uptime
        self.booting = False
        self.auth_ok = True
        self.drop_on: set[str] = set()
        self.scripts: dict[str, Script] = {}
        self.received: list[tuple[int, ActionDict]] = []
        self.conns: list[FakeConn] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> FakeAmi:
        await self.listen()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- control -----------------------------------------------------------------------------------------------

    async def listen(self) -> None:
        """Start accepting (again, on the same port after ``stop``)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting and close every connection (Asterisk going down)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in self.conns:
            conn.abort()
        await asyncio.sleep(0)

    def drop_all(self) -> None:
        for conn in self.conns:
            conn.abort()

    def broadcast(self, data: bytes) -> None:
        """Send to every logged-in connection that asked for events."""
        for conn in self.conns:
            if conn.logged_in and conn.events_on:
                conn.send(data)

    @property
    def last_conn(self) -> FakeConn:
        return self.conns[-1]

    def actions(self, name: str) -> list[ActionDict]:
        return [action for _, action in self.received if str(action.get("Action", "")).lower() == name.lower()]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def wait_action(self, name: str, count: int = 1, timeout: float = 5.0) -> ActionDict:
        await self.wait_until(lambda: len(self.actions(name)) >= count, timeout)
        return self.actions(name)[count - 1]

    async def wait_logins(self, count: int, timeout: float = 5.0) -> None:
        await self.wait_until(lambda: sum(conn.logged_in for conn in self.conns) >= count, timeout)

    # -- serving -----------------------------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = FakeConn(self, len(self.conns), reader, writer)
        self.conns.append(conn)
        await self._notify()
        conn.send(BANNER)
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action = parse_action(raw[:-4])
                self.received.append((conn.index, action))
                await self._notify()
                name = str(action.get("Action", "")).lower()
                if name in self.drop_on:
                    conn.abort()
                    break
                script = self.scripts.get(name)
                if script is not None:
                    await script(conn, action)
                else:
                    await self._default(conn, name, action)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            conn.close()
            conn.closed.set()
            await self._notify()

    async def _default(self, conn: FakeConn, name: str, action: ActionDict) -> None:
        action_id = action.get("ActionID", "")
        if name == "login":
            await self._login(conn, action)
        elif not conn.logged_in:
            conn.send(message("Response: Error", f"ActionID: {action_id}", "Message: Permission denied"))
        elif name == "ping":
            conn.send(
                message("Response: Success", f"ActionID: {action_id}", "Ping: Pong", "Timestamp: 1795301030.216934")
            )
        elif name == "originate":
            conn.send(message("Response: Success", f"ActionID: {action_id}", "Message: Originate successfully queued"))
        elif name == "logoff":
            conn.send(message("Response: Goodbye", f"ActionID: {action_id}", "Message: Thanks for all the fish."))
            conn.close()
        elif name == "coreshowchannels":
            conn.send(core_show_channels(str(action_id)))
        else:
            conn.send(message("Response: Error", f"ActionID: {action_id}", "Message: Invalid/unknown command"))

    async def _login(self, conn: FakeConn, action: ActionDict) -> None:
        action_id = action.get("ActionID", "")
        if not self.auth_ok:
            # Real Asterisk waits 1 s first; the tests do not need to.
            conn.send(message("Response: Error", f"ActionID: {action_id}", "Message: Authentication failed"))
            conn.close()
            return
        conn.logged_in = True
        conn.events_on = str(action.get("Events", "on")).lower() != "off"
        reply = message("Response: Success", f"ActionID: {action_id}", "Message: Authentication accepted")
        if conn.events_on and not self.booting:
            # Appended to the login reply, field order of manager.c's action_login (transcript 09).
            reply += fully_booted(self.uptime)
        conn.send(reply)
        if conn.events_on:
            conn.send(
                message(
                    "Event: SuccessfulAuth",
                    "Privilege: security,all",
                    "Service: AMI",
                    "AccountID: callback",
                    "UsingPassword: 0",
                )
            )


def fully_booted(uptime: int, *, as_late_event: bool = False) -> bytes:
    if as_late_event:
        # Sent when boot completes after the login: Status first (the second field order, README "Facts").
        return message(
            "Event: FullyBooted",
            "Privilege: system,all",
            "Status: Fully Booted",
            f"Uptime: {uptime}",
            f"LastReload: {uptime}",
        )
    return message(
        "Event: FullyBooted",
        "Privilege: system,all",
        f"Uptime: {uptime}",
        f"LastReload: {uptime}",
        "Status: Fully Booted",
    )


def core_show_channels(action_id: str) -> bytes:
    """CoreShowChannels as Asterisk 22 frames it (astman_send_listack, one event per channel, a Complete event)."""
    channels = [
        ("Local/1100@phones-00000021;1", "1795301083.66", "callback"),
        ("Local/1100@phones-00000021;2", "1795301083.67", "phones"),
    ]
    out = message("Response: Success", f"ActionID: {action_id}", "EventList: start", "Message: Channels will follow")
    for channel, uniqueid, context in channels:
        out += message(
            "Event: CoreShowChannel",
            f"ActionID: {action_id}",
            f"Channel: {channel}",
            "ChannelState: 6",
            "ChannelStateDesc: Up",
            "CallerIDNum: 1005",
            "CallerIDName: Callback 401",
            "ConnectedLineNum: 1100",
            "ConnectedLineName: <unknown>",
            "Language: en",
            "AccountCode: ",
            f"Context: {context}",
            "Exten: 1100",
            "Priority: 1",
            f"Uniqueid: {uniqueid}",
            "Linkedid: 1795301083.66",
            "Application: AppDial2",
            "ApplicationData: (Outgoing Line)",
            "Duration: 00:00:03",
            "BridgeId: 7f1a0d2e-3c1b-4c55-9a57-0c8f6b0c2e11",
        )
    out += message(
        "Event: CoreShowChannelsComplete",
        f"ActionID: {action_id}",
        "EventList: Complete",
        f"ListItems: {len(channels)}",
    )
    return out


class HookRecorder:
    """The three AmiClient hooks, recorded, with ``wait(predicate)`` woken by each hook call (no polling)."""

    def __init__(self) -> None:
        self.events: list[AmiMessage] = []
        self.connected: list[tuple[int | None, bool]] = []
        self.disconnected: list[str] = []
        self.connected_at: list[float] = []
        self.disconnected_at: list[float] = []
        self._changed = asyncio.Event()

    def on_event(self, event: AmiMessage) -> None:
        self.events.append(event)
        self._changed.set()

    def on_connected(self, uptime: int | None, is_restart: bool) -> None:
        self.connected.append((uptime, is_restart))
        self.connected_at.append(time.monotonic())
        self._changed.set()

    def on_disconnected(self, reason: str) -> None:
        self.disconnected.append(reason)
        self.disconnected_at.append(time.monotonic())
        self._changed.set()

    def hooks(self) -> dict[str, Any]:
        return {"on_event": self.on_event, "on_connected": self.on_connected, "on_disconnected": self.on_disconnected}

    def named(self, name: str) -> list[AmiMessage]:
        return [event for event in self.events if event.name == name]

    async def wait(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


class ThreadedFakeAmi:
    """A FakeAmi on its own loop thread, for tests of synchronous callers (BlockingAmiPool)."""

    def __init__(self, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-ami", daemon=True)
        self.thread.start()
        self.fake = self.call(self._make(options))

    async def _make(self, options: dict[str, Any]) -> FakeAmi:
        fake = FakeAmi(**options)
        await fake.listen()
        return fake

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.call(self.fake.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
