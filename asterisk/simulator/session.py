"""One AMI session, as manager.c's session thread runs it: the banner, Login and its failure delay, actions
one at a time, replies in manager.c's words, and events filtered by the user's ``read`` classes and the
session's event mask. Writes to a client that stopped reading give up after ``writetimeout``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .channels import Channel
from .originate import Originate, build_originate
from .protocol import BANNER, Action, ActionReader, Fields, encode, response
from .users import ACTION_CLASSES, ALL_CLASSES, AmiUser, parse_classes

if TYPE_CHECKING:
    from .server import AmiServer

log = logging.getLogger(__name__)

AUTH_FAILURE_DELAY = 1.0  # manager.c sleeps 1 s before answering a failed Login
VERSION = "Asterisk 22-GIT-69535d4837 built by root @ vm on a x86_64 running Linux on 2026-11-21 22:38:33 UTC"


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

    def reads(self, event_class: str) -> bool:
        return self.user is not None and event_class in self.user.read and event_class in self.event_mask

    def deliver(self, events: Sequence[tuple[str, bytes]]) -> None:
        data = b"".join([event for event_class, event in events if self.reads(event_class)])
        if data:
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
        channels = list(pbx.channels.values())
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
        channels = [c for c in pbx.channels.values() if not wanted or c.name == wanted]
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
