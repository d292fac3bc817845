"""The AMI listener, as manager.c runs it: one session per TCP connection, Login, the actions Huibo uses,
and event delivery filtered by the user's ``read`` classes and the session's event mask. Also the faults
tests need: dropped links, a half-open link, ``core restart now`` and a crash.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from .bus import Event, EventBus
from .channels import STATE_DESC, Channel
from .clock import Clock
from .interleaving import Interleaving
from .pbx import Originate, OriginateRequest, Pbx, PbxSettings
from .protocol import BANNER, Action, ActionReader, Fields, encode, response

log = logging.getLogger(__name__)

ALL_CLASSES = frozenset(
    "system call log verbose command agent user config dtmf reporting cdr dialplan originate agi cc aoc test "
    "security message".split()
)
# What Huibo's AMI user gets in production (asterisk/manager.conf); the simulator's default too, so code
# developed against it sees what production sends.
PRODUCTION_READ = frozenset({"system", "call", "cdr"})
PRODUCTION_WRITE = frozenset({"originate", "call", "reporting"})

# Which write class an action needs (manager.c registrations; any one of them is enough).
ACTION_CLASSES: dict[str, frozenset[str]] = {
    "originate": frozenset({"originate"}),
    "hangup": frozenset({"system", "call"}),
    "coreshowchannels": frozenset({"system", "reporting"}),
    "status": frozenset({"system", "call", "reporting"}),
    "command": frozenset({"command"}),
}

AUTH_FAILURE_DELAY = 1.0  # manager.c sleeps 1 s before answering a failed Login
VERSION = "Asterisk 22-GIT-69535d4837 built by root @ vm on a x86_64 running Linux on 2026-11-21 22:38:33 UTC"


def parse_classes(text: str) -> frozenset[str]:
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if "all" in names:
        return ALL_CLASSES
    return frozenset(names & ALL_CLASSES)


@dataclass(frozen=True)
class AmiUser:
    username: str
    secret: str
    read: frozenset[str] = PRODUCTION_READ
    write: frozenset[str] = PRODUCTION_WRITE


@dataclass
class FaultState:
    silent: bool = False  # new connections are accepted but never spoken to (half-open path)


def _iso(wall: float) -> str:
    millis = int(round((wall - int(wall)) * 1000)) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{millis:03d}+0000"


class AmiSession(asyncio.Protocol):
    _ids = itertools.count(1)

    def __init__(self, server: AmiServer) -> None:
        self.server = server
        self.number = next(self._ids)
        self.transport: asyncio.Transport | None = None
        self.reader = ActionReader()
        self.user: AmiUser | None = None
        self.event_mask: frozenset[str] = ALL_CLASSES
        self.silent = server.faults.silent
        self.closing = False
        self.queue: asyncio.Queue[Action] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.session_id = f"0x{0x7F9FD0000000 + self.number * 0x1450:x}"
        self.started_wall = server.clock.wall()
        self.peer = ("127.0.0.1", 0)
        self.local = ("127.0.0.1", 0)
        self._write_timer: asyncio.TimerHandle | None = None
        self.handled = 0  # actions answered so far (tests with a manual clock wait on it)
        self.waiting_for_time = False  # an action is waiting for simulated time to pass

    # -- transport ------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        local = transport.get_extra_info("sockname") or ("?", 0)
        self.peer, self.local = (peer[0], peer[1]), (local[0], local[1])
        self.server.sessions.append(self)
        self.server.all_sessions.append(self)
        log.info("simulator.ami.connect session=%s remote=%s:%s", self.number, *self.peer)
        if self.silent:
            transport.pause_reading()
            return
        transport.write(BANNER)
        self.worker = asyncio.get_running_loop().create_task(self._work())

    def connection_lost(self, exc: Exception | None) -> None:
        log.info("simulator.ami.disconnect session=%s user=%s", self.number, self.user and self.user.username)
        if self in self.server.sessions:
            self.server.sessions.remove(self)
        self.resume_writing()
        if self.worker is not None:
            self.worker.cancel()

    def pause_writing(self) -> None:
        """The kernel's send buffer is full: the client is not reading. Asterisk's write blocks, and after
        ``writetimeout`` (100 ms by default, real time) it gives up on the session."""
        timeout = self.server.write_timeout
        if timeout is not None and self._write_timer is None:
            self._write_timer = asyncio.get_running_loop().call_later(timeout, self._write_timed_out)

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_timed_out(self) -> None:
        log.warning("simulator.ami.write_timeout session=%s user=%s", self.number, self.user and self.user.username)
        self.abort()

    def data_received(self, data: bytes) -> None:
        if self.silent or self.closing:
            return
        try:
            for action in self.reader.feed(data):
                self.queue.put_nowait(action)
        except ValueError:
            log.warning("simulator.ami.input_overflow session=%s", self.number)
            self.close()

    def write(self, data: bytes) -> None:
        if self.transport is None or self.silent or self.closing or self.transport.is_closing():
            return
        self.transport.write(data)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def go_silent(self) -> None:
        """Half-open: the socket stays open, nothing is read or written any more."""
        self.silent = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    # -- events ---------------------------------------------------------------------------------------

    def deliver(self, event_class: str, data: bytes) -> None:
        if self.user is None or event_class not in self.user.read or event_class not in self.event_mask:
            return
        self.write(data)

    # -- actions --------------------------------------------------------------------------------------

    async def _work(self) -> None:
        while not self.closing:
            action = await self.queue.get()
            try:
                await self.handle(action)
            except Exception:  # a bug in the simulator must not look like an Asterisk crash
                log.exception("simulator.ami.action_failed session=%s action=%s", self.number, action.name)
                self.write(response("Error", action.action_id, "Internal simulator error"))
            finally:
                self.handled += 1

    async def handle(self, action: Action) -> None:
        server = self.server
        server.clock.catch_up()
        name = action.name.strip()
        log.info(
            "simulator.ami.action session=%s user=%s action=%s action_id=%s",
            self.number,
            self.user and self.user.username,
            name,
            action.action_id,
        )
        key = name.lower()
        if not name:
            self.write(response("Error", action.action_id, "Missing action in request"))
            return
        if self.user is None and key not in ("login", "logoff", "challenge"):
            self.write(response("Error", action.action_id, "Permission denied"))
            server.security_event(self, "RequestNotAllowed", [("RequestType", f"Action: {name}")], account="")
            return
        needed = ACTION_CLASSES.get(key)
        if needed is not None and self.user is not None and not (needed & self.user.write):
            self.write(response("Error", action.action_id, "Permission denied"))
            return
        handler = getattr(self, "action_" + key, None)
        if handler is None:
            self.write(
                response(
                    "Error",
                    action.action_id,
                    f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.",
                )
            )
            return
        await handler(action)

    async def action_login(self, action: Action) -> None:
        server = self.server
        if self.user is not None:
            self.write(response("Success", action.action_id, "Already authenticated"))
            return
        username, secret = action.get("Username"), action.get("Secret")
        user = server.users.get(username)
        if user is None or user.secret != secret:
            if user is None:
                server.security_event(self, "InvalidAccountID", [], account=username, version="1")
            else:
                server.security_event(self, "InvalidPassword", [], account=username, version="2")
            log.info("simulator.ami.auth_failed session=%s user=%s", self.number, username)
            # manager.c stops reading, sleeps a second, answers and hangs up.
            if self.transport is not None:
                self.transport.pause_reading()
            self.waiting_for_time = True
            await server.sleep(AUTH_FAILURE_DELAY)
            self.waiting_for_time = False
            self.write(response("Error", action.action_id, "Authentication failed"))
            self.close()
            return
        events = action.get("Events", "on").strip().lower()
        if events in ("off", "no", "false", "0"):
            self.event_mask = frozenset()
        elif events not in ("", "on", "yes", "true", "1"):
            self.event_mask = parse_classes(events)
        self.user = user
        log.info("simulator.ami.login session=%s user=%s", self.number, username)
        self.write(response("Success", action.action_id, "Authentication accepted"))
        if "system" in self.event_mask and "system" in user.read and server.fully_booted:
            uptime = server.pbx.uptime
            self.write(
                encode(
                    [
                        ("Event", "FullyBooted"),
                        ("Privilege", "system,all"),
                        ("Uptime", str(uptime)),
                        ("LastReload", str(uptime)),
                        ("Status", "Fully Booted"),
                    ]
                )
            )
        server.security_event(self, "SuccessfulAuth", [("UsingPassword", "0")], account=username)

    async def action_logoff(self, action: Action) -> None:
        self.write(response("Goodbye", action.action_id, "Thanks for all the fish."))
        self.close()

    async def action_challenge(self, action: Action) -> None:
        self.write(response("Error", action.action_id, "Must specify AuthType"))

    async def action_ping(self, action: Action) -> None:
        now = self.server.clock.wall()
        self.write(response("Success", action.action_id, None, [("Ping", "Pong"), ("Timestamp", f"{now:.6f}")]))

    async def action_events(self, action: Action) -> None:
        mask = action.get("EventMask", "").strip().lower()
        if mask in ("on", "yes", "true", "1"):
            self.event_mask = ALL_CLASSES
        elif mask in ("off", "no", "false", "0", ""):
            self.event_mask = frozenset()
        else:
            self.event_mask = parse_classes(mask)
        state = "On" if self.event_mask else "Off"
        fields: Fields = [("Response", "Success")]
        if action.action_id is not None:
            fields.append(("ActionID", action.action_id))
        fields.append(("Events", state))
        self.write(encode(fields))

    async def action_command(self, action: Action) -> None:
        command = " ".join(action.get("Command").split())
        if command == "core show version":
            self.write(response("Success", action.action_id, "Command output follows", [("Output", VERSION)]))
            return
        if command in ("core restart now", "core restart gracefully", "core restart when convenient"):
            # Tests can restart "Asterisk" over AMI, so the restart reaches the PBX with the same delay as
            # the actions it races with (the recording ran it from the CLI).
            self.write(response("Success", action.action_id, "Command output follows", [("Output", "")]))
            self.server.restart()
            return
        if command == "core show uptime seconds":
            uptime = self.server.pbx.uptime
            output = [("Output", f"System uptime: {uptime}"), ("Output", f"Last reload: {uptime}")]
            self.write(response("Success", action.action_id, "Command output follows", output))
            return
        self.write(
            response(
                "Error",
                action.action_id,
                "Command output follows",
                [
                    (
                        "Output",
                        f"No such command '{command}' (type 'core show help {command}' for other possible commands)",
                    )
                ],
            )
        )

    async def action_originate(self, action: Action) -> None:
        server = self.server
        request, error = build_originate(action)
        if error is not None:
            self.write(response("Error", action.action_id, error))
            return
        assert request is not None
        if request.context and request.exten:
            if server.pbx.contexts_lookup(request.context, request.exten) is None:
                self.write(response("Error", action.action_id, "Extension does not exist."))
                return
        if request.is_async:
            originate = Originate(server.pbx, request)
            self.write(response("Success", action.action_id, "Originate successfully queued"))
            # The outgoing thread starts a moment after the reply (about 0.2 ms in the recordings).
            server.pbx.later(0.0002, originate.start)
            return
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def finished(success: bool) -> None:
            if not done.done():
                done.set_result(success)

        originate = Originate(server.pbx, request, on_done=finished)
        server.pbx.later(0.0002, originate.start)
        # A synchronous Originate blocks this session until the first leg answers or fails.
        if await done:
            self.write(response("Success", action.action_id, "Originate successfully queued"))
        else:
            self.write(response("Error", action.action_id, "Originate failed"))

    async def action_hangup(self, action: Action) -> None:
        server = self.server
        name = action.get("Channel")
        chan = server.pbx.find(name)
        if chan is None:
            self.write(response("Error", action.action_id, "No such channel"))
            return
        cause_text = action.get("Cause")
        cause = int(cause_text) if cause_text.isdigit() else 16
        self.write(response("Success", action.action_id, "Channel Hungup"))
        server.pbx.step(lambda: server.pbx.request_hangup(chan, cause, event="SoftHangupRequest"))

    async def action_coreshowchannels(self, action: Action) -> None:
        pbx = self.server.pbx
        channels = list(pbx.channels)
        self.write(_list_start(action.action_id, "Channels will follow"))
        id_fields: Fields = [("ActionID", action.action_id)] if action.action_id is not None else []
        for chan in channels:
            fields: Fields = [("Event", "CoreShowChannel"), *id_fields, *pbx.snap(chan)]
            fields += [
                ("BridgeId", self._bridge_id(chan)),
                ("Application", chan.app),
                ("ApplicationData", chan.app_data),
                ("Duration", _hms(pbx.clock.now - chan.created_at)),
            ]
            self.write(encode(fields))
        self.write(
            encode(
                [
                    ("Event", "CoreShowChannelsComplete"),
                    *id_fields,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(channels))),
                ]
            )
        )

    async def action_status(self, action: Action) -> None:
        pbx = self.server.pbx
        wanted = action.get("Channel")
        channels = [c for c in pbx.channels if not wanted or c.name == wanted]
        if wanted and not channels:
            self.write(response("Error", action.action_id, "No such channel"))
            return
        self.write(_list_start(action.action_id, "Channel status will follow"))
        id_fields: Fields = [("ActionID", action.action_id)] if action.action_id is not None else []
        for chan in channels:
            up = pbx.clock.now - chan.answered_at if chan.answered_at is not None else 0.0
            fields: Fields = [("Event", "Status"), ("Privilege", "Call"), *pbx.snap(chan)]
            fields += [
                ("Type", "Local"),
                ("DNID", ""),
                ("EffectiveConnectedLineNum", chan.connected_num or "<unknown>"),
                ("EffectiveConnectedLineName", chan.connected_name or "<unknown>"),
                ("TimeToHangup", "0"),
                ("BridgeID", self._bridge_id(chan)),
                ("Application", chan.app),
                ("Data", chan.app_data),
                ("Nativeformats", "(ulaw)"),
                ("Readformat", "slin"),
                ("Readtrans", ""),
                ("Writeformat", "slin"),
                ("Writetrans", ""),
                ("Callgroup", "0"),
                ("Pickupgroup", "0"),
                ("Seconds", str(int(up))),
                *id_fields,
            ]
            self.write(encode(fields))
        self.write(
            encode(
                [
                    ("Event", "StatusComplete"),
                    *id_fields,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(channels))),
                    ("Items", str(len(channels))),
                ]
            )
        )

    def _bridge_id(self, chan: Channel) -> str:
        for dialer in self.server.pbx.dialers.values():
            if dialer.bridge is not None and chan in dialer.bridge.members:
                return dialer.bridge.uniqueid
        return ""


def _list_start(action_id: str | None, message: str) -> bytes:
    fields: Fields = [("Response", "Success")]
    if action_id is not None:
        fields.append(("ActionID", action_id))
    fields += [("EventList", "start"), ("Message", message)]
    return encode(fields)


def _hms(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def build_originate(action: Action) -> tuple[OriginateRequest | None, str | None]:
    """Validate an Originate as action_originate() does; returns the request or the error message."""
    channel = action.get("Channel").strip()
    if not channel:
        return None, "Channel not specified"
    if "/" not in channel:
        return None, "Invalid channel"
    priority_text = action.get("Priority").strip()
    priority = 1
    if priority_text:
        if not priority_text.isdigit():
            return None, "Invalid priority"
        priority = int(priority_text)
    timeout_text = action.get("Timeout").strip()
    timeout = 30.0
    if timeout_text:
        try:
            timeout = int(timeout_text) / 1000.0
        except ValueError:
            return None, "Invalid timeout"
    channel_id = action.get("ChannelId").strip() or None
    other_id = action.get("OtherChannelId").strip() or None
    for given in (channel_id, other_id):
        if given is not None and len(given) > 150:
            return None, "Uniqueid length exceeds maximum of 150\n"
    num, name = parse_callerid(action.get("CallerID"))
    variables: list[tuple[str, str]] = []
    for header in action.get_all("Variable"):
        for assignment in header.split(","):
            key, sep, value = assignment.partition("=")
            if sep and key.strip():
                variables.append((key.strip(), value))
    # astman_get_variables() builds its list by prepending: the channel gets them last header first.
    variables.reverse()
    application = action.get("Application").strip()
    request = OriginateRequest(
        channel=channel,
        context=action.get("Context").strip(),
        exten=action.get("Exten").strip(),
        priority=priority,
        application=application,
        data=action.get("Data"),
        timeout=timeout if timeout > 0 else 30.0,
        caller_num=num,
        caller_name=name,
        variables=variables,
        action_id=action.action_id,
        channel_id=channel_id,
        other_channel_id=other_id,
        is_async=action.get("Async").strip().lower() in ("true", "yes", "1", "on"),
    )
    if not application and not (request.context and request.exten):
        return None, "Originate with 'Exten' requires 'Context' and 'Priority'"
    return request, None


def parse_callerid(text: str) -> tuple[str, str]:
    """``"Name" <num>`` -> (num, name), as ast_callerid_parse() does for the cases Huibo sends."""
    text = text.strip()
    if not text:
        return "", ""
    if "<" in text and text.endswith(">"):
        name = text[: text.index("<")].strip().strip('"')
        return text[text.index("<") + 1 : -1].strip(), name
    if text.replace("+", "").isdigit():
        return text, ""
    return "", text.strip('"')


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
        self.bus.subscribers = self.sessions  # type: ignore[assignment]
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
        return [c.name for c in self.pbx.channels]

    def describe(self) -> list[tuple[str, str]]:
        return [(c.name, STATE_DESC[c.state]) for c in self.pbx.channels]
