"""The simulated Asterisk process: the AMI listener (manager.c's accept loop), its PBX and simulated clock,
res_security_log's AMI events, and the faults tests need: dropped links, a half-open link,
``core restart now`` and a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from .bus import Event, EventBus
from .channels import STATE_DESC
from .clock import Clock
from .interleaving import Interleaving
from .pbx import Pbx, PbxSettings
from .protocol import Fields
from .session import AmiSession
from .users import AmiUser

log = logging.getLogger(__name__)


@dataclass
class FaultState:
    silent: bool = False  # new connections are accepted but never spoken to (half-open path)


def _iso(wall: float) -> str:
    millis = int(round((wall - int(wall)) * 1000)) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{millis:03d}+0000"


@dataclass
class AmiServer:
    """The simulated Asterisk: listener, sessions, PBX and the fault switches."""

    host: str = "127.0.0.1"
    port: int = 0
    users: dict[str, AmiUser] = field(default_factory=dict)
    time_scale: float = 1.0
    settings: PbxSettings = field(default_factory=PbxSettings)
    interleaving: Interleaving | None = None
    restart_down_seconds: float = 1.5
    keep_history: bool = False
    manual_clock: bool = False
    # manager.conf writetimeout, in real seconds (None: never give up on a slow reader)
    write_timeout: float | None = 0.1
    # After a restart or crash AMI accepts logins this long before Asterisk is fully booted: the login reply
    # then lacks FullyBooted, which follows as an event in its other field order (README, "Login").
    booting_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.clock = Clock(self.time_scale, manual=self.manual_clock)
        self.bus = EventBus(interleaving=self.interleaving, history=[] if self.keep_history else None)
        self.pbx = Pbx(self.clock, self.bus, self.settings)
        self.clock.step = self.pbx.step
        self.sessions: list[AmiSession] = []
        self.bus.subscribers = self.sessions  # events go to every open session
        self.all_sessions: list[AmiSession] = []  # every session ever accepted, in order
        self.faults = FaultState()
        self._server: asyncio.base_events.Server | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self.bound_port = 0
        self.restarts = 0
        self.fully_booted = True
        self.listening = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.clock.start(loop)
        await self._listen(self.port)
        self._clock_task = loop.create_task(self.clock.run())

    async def _listen(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: AmiSession(self), self.host, port, reuse_address=True)
        self.bound_port = self._server.sockets[0].getsockname()[1]
        self.listening.set()
        log.info("simulator.ami.listening host=%s port=%s", self.host, self.bound_port)

    def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self.listening.clear()

    async def stop(self) -> None:
        self._stop_listening()
        for session in list(self.sessions):
            session.abort()
        if self._clock_task is not None:
            self._clock_task.cancel()
            try:
                await self._clock_task
            except asyncio.CancelledError:
                pass
        self.clock.clear()

    async def sleep(self, virtual_seconds: float) -> None:
        """Wait ``virtual_seconds`` of simulated time (a timer, so manual clocks work too)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)

        self.clock.call_later(virtual_seconds, wake)
        await done

    # -- events ---------------------------------------------------------------------------------------

    def security_event(
        self,
        source: AmiSession,
        name: str,
        extra: Iterable[tuple[str, str]],
        account: str,
        version: str = "1",
    ) -> None:
        """res_security_log's AMI side: every session reading ``security`` sees it."""
        now = self.clock.wall()
        severity = "Informational" if name == "SuccessfulAuth" else "Error"
        # Asterisk fills SessionTV only once the session authenticated; failures show the epoch.
        session_tv = _iso(source.started_wall) if name == "SuccessfulAuth" else "1970-01-01T00:00:00.000+0000"
        fields: Fields = [
            ("EventTV", _iso(now)),
            ("Severity", severity),
            ("Service", "AMI"),
            ("EventVersion", version),
            ("AccountID", account),
            ("SessionID", source.session_id),
            ("LocalAddress", f"IPV4/TCP/{source.local[0]}/{source.local[1]}"),
            ("RemoteAddress", f"IPV4/TCP/{source.peer[0]}/{source.peer[1]}"),
            *extra,
            ("SessionTV", session_tv),
        ]
        self.pbx.step(lambda: self.bus.emit(Event(name, "security,all", fields)))

    # -- faults ---------------------------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Every AMI connection is reset at once (RST); Asterisk and its calls carry on."""
        log.info("simulator.fault.drop sessions=%s", len(self.sessions))
        for session in list(self.sessions):
            session.abort()

    def go_silent(self) -> None:
        """Half-open links: existing connections stay open but nothing more is read or written, and new
        connections are accepted and never spoken to, until :meth:`end_silence`."""
        log.info("simulator.fault.silent sessions=%s", len(self.sessions))
        self.faults.silent = True
        for session in list(self.sessions):
            session.go_silent()

    def end_silence(self) -> None:
        """New connections work again; the links that went silent stay dead, as a half-open link does."""
        self.faults.silent = False

    def restart(self) -> None:
        """``core restart now`` (transcript 15): channels hang up, Shutdown ~1.1 s later, sockets close,
        AMI refuses connections until ``restart_down_seconds`` after the command, then Uptime is 0."""
        log.info("simulator.fault.restart channels=%s", len(self.pbx.channels))
        self.clock.catch_up()
        # The recording shows the first hangups 10 ms after the command.
        self.clock.call_later(0.01, self.pbx.shutdown)

        def announce() -> None:
            self.bus.emit(Event("Shutdown", "system,all", [("Shutdown", "Cleanly"), ("Restart", "True")]))

        def close_all() -> None:
            self._stop_listening()
            for session in list(self.sessions):
                session.close()

        self.clock.call_later(1.11, announce)
        self.clock.call_later(1.127, close_all)
        self._schedule_boot(self.restart_down_seconds)

    def crash(self, down_seconds: float | None = None) -> None:
        """Asterisk dies: sockets close with no goodbye, every channel is gone, no events. AMI comes
        back ``down_seconds`` later (default ``restart_down_seconds``) with Uptime 0."""
        log.info("simulator.fault.crash channels=%s", len(self.pbx.channels))
        self.clock.catch_up()
        self._stop_listening()
        for session in list(self.sessions):
            session.abort()
        self.pbx.reset()
        self._schedule_boot(self.restart_down_seconds if down_seconds is None else down_seconds)

    def _schedule_boot(self, delay: float) -> None:
        self.fully_booted = False

        def boot() -> None:
            self.pbx.reset()
            self.restarts += 1
            asyncio.get_running_loop().create_task(self._listen(self.bound_port))
            if self.booting_seconds > 0:
                self.clock.call_later(self.booting_seconds, booted)
            else:
                self.fully_booted = True

        def booted() -> None:
            self.fully_booted = True
            uptime = str(self.pbx.uptime)
            fields = [("Status", "Fully Booted"), ("Uptime", uptime), ("LastReload", uptime)]
            self.bus.emit(Event("FullyBooted", "system,all", fields))

        self.clock.call_later(delay, boot)

    # -- introspection ---------------------------------------------------------------------------------

    def channel_names(self) -> list[str]:
        return list(self.pbx.channels)

    def describe(self) -> list[tuple[str, str]]:
        return [(c.name, STATE_DESC[c.state]) for c in self.pbx.channels.values()]
