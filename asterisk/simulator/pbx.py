"""The PBX core: what Asterisk's channel core, core_local.c, pbx.c, app_dial.c, the basic bridge and
cdr.c do for Huibo's calls, producing the AMI events a real Asterisk 22 produces, in a causally valid order.

Shape of a callback (see the transcripts): ``Originate`` creates a Local pair for the first leg; its ``;2``
runs the telephone's dialplan; when it answers, ``;1`` runs the callback context, whose Dial() creates the
second Local pair; when that answers, the two ``;1`` halves are bridged. Every channel shares the Linkedid
of the first ``;1``.

Threads of the real thing are modelled as callbacks: a channel's dialplan (:class:`PbxThread`), the
originate thread (:class:`Originate`) and Dial() (:class:`Dialer`). What another thread would do "next" is
deferred to the end of the current burst, in order.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import dialplan
from .bus import Event, EventBus
from .cdr import CdrRecord
from .channels import (
    STATE_BUSY,
    STATE_DOWN,
    STATE_RING,
    STATE_RINGING,
    STATE_UP,
    UNKNOWN,
    Channel,
    LocalPair,
    cause_text,
    live_snapshot,
    snapshot,
    snapshot_from,
)
from .clock import Clock, Timer
from .protocol import Fields

log = logging.getLogger(__name__)

CALL = "call,all"
DIALPLAN = "dialplan,all"
CDR = "cdr,all"

# SoftHangupRequest's Cause is Asterisk's internal soft-hangup flag, not a Q.850 cause.
SOFTHANGUP_NORMAL = 16
SOFTHANGUP_SHUTDOWN = 4

# Answer() waits up to 500 ms for the first media frame before the dialplan moves on. The originated
# first leg gets media from its ;1 within ~20 ms; a dialled leg waits the whole 500 ms (recordings: the
# priority after Answer() runs at +0.02 s and +0.5 s respectively).
MEDIA_WAIT_FIRST_LEG = 0.02
MEDIA_WAIT_OTHER = 0.5
# Simulated length of any Playback() and the time a confirming phone takes to press its key.
PLAYBACK_SECONDS = 1.0
KEYPRESS_SECONDS = 1.0


@dataclass
class PbxSettings:
    channelvars: list[str] = field(default_factory=lambda: ["HUIBO_ATTEMPT"])
    recordings_dir: Path | None = None
    production_dialplan: Path | None = dialplan.PRODUCTION_EXTENSIONS
    # Channel technologies whose driver is "loaded"; anything else fails as PJSIP/nobody does in 08b.
    loaded_techs: frozenset[str] = frozenset({"Local"})


class Owner(Protocol):
    """Whoever waits on a dialled ;1: the originate thread or Dial()."""

    def on_ringing(self, chan: Channel) -> None: ...
    def on_answer(self, chan: Channel) -> None: ...
    def on_busy(self, chan: Channel, congestion: bool) -> None: ...
    def on_hangup_request(self, chan: Channel) -> None: ...


# What an application tells the dialplan loop.
CONTINUE, BLOCK, STOP = "continue", "block", "stop"


class Pbx:
    def __init__(self, clock: Clock, bus: EventBus, settings: PbxSettings | None = None) -> None:
        self.clock = clock
        self.bus = bus
        self.settings = settings or PbxSettings()
        self.contexts = dialplan.load(self.settings.production_dialplan)
        self.channels: list[Channel] = []
        self.owners: dict[str, Owner] = {}
        self.threads: dict[str, PbxThread] = {}
        self.dialers: dict[str, Dialer] = {}  # caller channel name -> its running Dial()
        self.cdrs: dict[str, list[CdrRecord]] = {}
        self.originated: dict[str, Originate] = {}  # A1 name -> the Originate that made it
        self._deferred: deque[Callable[[], None]] = deque()
        self._timers: list[Timer] = []
        self.shutting_down = False
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """A freshly started Asterisk: counters from zero, no channels."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.channels.clear()
        self.owners.clear()
        self.threads.clear()
        self.dialers.clear()
        self.cdrs.clear()
        self.originated.clear()
        self._deferred.clear()
        self._uid_seq = itertools.count()
        self._local_seq = itertools.count()
        self.booted_at = self.clock.now
        self.shutting_down = False
        self.bus.reset_devices()

    def step(self, fn: Callable[[], None]) -> None:
        """Run one simulated instant: ``fn`` and everything it sets off, written as one burst."""
        with self.bus.burst():
            fn()
            while self._deferred:
                self._deferred.popleft()()

    def defer(self, fn: Callable[[], None]) -> None:
        self._deferred.append(fn)

    def later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = self.clock.call_later(delay, fn)
        self._timers.append(timer)
        if len(self._timers) > 256:
            self._timers = [t for t in self._timers if not t.cancelled and t.when >= self.clock.now]
        return timer

    @property
    def uptime(self) -> int:
        return int(self.clock.now - self.booted_at)

    def find(self, name: str) -> Channel | None:
        for chan in self.channels:
            if chan.name == name:
                return chan
        return None

    def uniqueid_in_use(self, uniqueid: str) -> Channel | None:
        for chan in self.channels:
            if chan.uniqueid == uniqueid:
                return chan
        return None

    # -- events ----------------------------------------------------------------------------------------

    def emit(self, name: str, fields: Fields, privilege: str = CALL, **extra: object) -> None:
        self.bus.emit(Event(name, privilege, fields, **extra))  # type: ignore[arg-type]

    def snap(self, chan: Channel, prefix: str = "") -> Fields:
        return snapshot(chan, self.settings.channelvars, prefix)

    def chan_event(self, name: str, chan: Channel, extra: Fields = (), privilege: str = CALL, **kw: object) -> None:  # type: ignore[assignment]
        chan.cached_snapshot = None
        self.emit(name, [*self.snap(chan), *extra], privilege, **kw)

    def newexten(self, chan: Channel, app: str, data: str) -> None:
        chan.app, chan.app_data = app, data
        self.chan_event(
            "Newexten", chan, [("Extension", chan.exten), ("Application", app), ("AppData", data)], DIALPLAN
        )

    def set_var(self, chan: Channel, name: str, value: str, at_tail: bool = False) -> None:
        """Set(): the VarSet carries the channel's last published snapshot (see Channel.cached_snapshot)."""
        chan.setvar(name, value, at_tail)
        cv = self.settings.channelvars
        values = chan.cached_snapshot if chan.cached_snapshot is not None else live_snapshot(chan, cv)
        self.emit("VarSet", [*snapshot_from(values, cv), ("Variable", name), ("Value", value)], DIALPLAN)

    def new_state(self, chan: Channel, state: int) -> None:
        chan.state = state
        if state == STATE_UP and chan.answered_at is None:
            chan.answered_at = self.clock.now
            for record in self.cdrs.get(chan.name, [])[-1:]:
                if record.answer is None:
                    record.answer = self.clock.now
        self.chan_event("Newstate", chan)
        self.device_state(chan)

    def device_state(self, chan: Channel) -> None:
        if chan.pair is not None:
            self.emit(
                "DeviceStateChange",
                [],
                device=chan.pair.device,
                device_invalid=self.contexts_lookup(chan.pair.context, chan.pair.exten) is None,
            )

    def contexts_lookup(self, context: str, exten: str) -> list[dialplan.Priority] | None:
        ctx = self.contexts.get(context)
        return ctx.lookup(exten) if ctx is not None else None

    # -- channels --------------------------------------------------------------------------------------

    def _uniqueid(self) -> str:
        return f"{int(self.clock.wall())}.{next(self._uid_seq)}"

    def new_local_pair(
        self, exten: str, context: str, linkedid: str | None, ids: tuple[str | None, str | None] = (None, None)
    ) -> LocalPair:
        """local_request(): both halves, Newchannel for each (;1 Down, ;2 Ring)."""
        number = next(self._local_seq)
        base = f"Local/{exten}@{context}-{number:08x}"
        now = self.clock.now
        uid1 = ids[0] or self._uniqueid()
        uid2 = ids[1] or self._uniqueid()
        link = linkedid or uid1
        one = Channel(f"{base};1", uid1, link, context, exten, STATE_DOWN, now)
        two = Channel(f"{base};2", uid2, link, context, exten, STATE_RING, now)
        pair = LocalPair(number, exten, context, one, two)
        one.pair = two.pair = pair
        for chan in (one, two):
            self.channels.append(chan)
            self.cdrs[chan.name] = [CdrRecord(chan, start=now)]
            chan.cached_snapshot = live_snapshot(chan, self.settings.channelvars)
            self.emit("Newchannel", self.snap(chan), opens=pair if chan is one else None)
            chan.cached_snapshot = live_snapshot(chan, self.settings.channelvars)
        return pair

    def set_callerid(self, chan: Channel, num: str, name: str, connected: tuple[str, str] | None) -> None:
        chan.cid_num, chan.cid_name = num, name
        if connected is not None:
            chan.connected_num, chan.connected_name = connected
        self.chan_event("NewCallerid", chan, [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")])

    def set_connected(self, chan: Channel, num: str, name: str) -> None:
        chan.connected_num, chan.connected_name = num, name
        self.chan_event("NewConnectedLine", chan)

    def local_call(self, pair: LocalPair) -> bool:
        """local_call(): copy ;1's variables and caller id to ;2, then start ;2's dialplan.

        False when exten@context does not exist: Asterisk then destroys both halves at once.
        """
        one, two = pair.one, pair.two
        for name, var in list(one.variables.items()):
            self.set_var(two, var.set_name(name), var.value)
        # ;2 sees the call from the other side: its caller is ;1's connected line and vice versa.
        two.cid_num, two.cid_name = one.connected_num, one.connected_name
        two.connected_num, two.connected_name = one.cid_num, one.cid_name
        self.set_callerid(two, two.cid_num, two.cid_name, None)
        self.set_connected(two, two.connected_num, two.connected_name)
        if self.contexts_lookup(pair.context, pair.exten) is None:
            return False
        self.emit(
            "LocalBridge",
            [
                *self.snap(one, "LocalOne"),
                *self.snap(two, "LocalTwo"),
                ("Context", pair.context),
                ("Exten", pair.exten),
                ("LocalOptimization", "Yes"),
            ],
        )
        thread = PbxThread(self, two)
        self.threads[two.name] = thread
        self.defer(thread.run)
        return True

    def request_hangup(
        self, chan: Channel, cause: int, event: str = "HangupRequest", closes: LocalPair | None = None
    ) -> None:
        """ast_queue_hangup_with_cause(): the channel's own thread will notice and end the call.

        ``closes``: the Local pair whose first half just hung up (device state turns NOT_INUSE from here).
        """
        if not chan.alive or chan.hangup_requested:
            return
        chan.hangup_requested = True
        if cause and not self.shutting_down:
            chan.hangup_cause = cause
        self.chan_event(event, chan, [("Cause", str(cause))], closes=closes)
        if not self.shutting_down:
            self.defer(lambda: self._react_to_hangup(chan))

    def _react_to_hangup(self, chan: Channel) -> None:
        if not chan.alive:
            return
        if chan.name in self.dialers:
            self.dialers[chan.name].on_caller_hangup()
        elif chan.name in self.threads:
            self.threads[chan.name].on_hangup_request()
        elif chan.name in self.owners:
            self.owners[chan.name].on_hangup_request(chan)
        else:
            self.hangup(chan)

    def hangup(self, chan: Channel, notify_peer: bool = True) -> None:
        """ast_hangup(): the peer half hears of it first, then Hangup, device state and the CDRs."""
        if not chan.alive:
            return
        peer = chan.peer
        if notify_peer and peer is not None and peer.alive and not peer.hangup_requested:
            self.request_hangup(peer, chan.hangup_cause, closes=chan.pair)
        chan.alive = False
        self.chan_event(
            "Hangup",
            chan,
            [("Cause", str(chan.hangup_cause)), ("Cause-txt", cause_text(chan.hangup_cause))],
            closes=chan.pair,
        )
        self.device_state(chan)
        self.channels.remove(chan)
        self.threads.pop(chan.name, None)
        self.owners.pop(chan.name, None)
        self.dialers.pop(chan.name, None)
        for record in self.cdrs.pop(chan.name, []):
            record.finish(self.clock.now)
            self.emit("Cdr", record.fields(self.clock.wall_start), CDR)

    def soft_hangup(self, chan: Channel, flag: int = SOFTHANGUP_NORMAL) -> None:
        self.chan_event("SoftHangupRequest", chan, [("Cause", str(flag))])

    # -- Local ;2 telling its ;1 ----------------------------------------------------------------------

    def local_ringing(self, two: Channel) -> None:
        one = two.peer
        if one is None or not one.alive or one.state == STATE_RINGING or one.state == STATE_UP:
            return
        self.new_state(one, STATE_RINGING)
        owner = self.owners.get(one.name)
        if owner is not None:
            owner.on_ringing(one)

    def local_answer(self, two: Channel) -> None:
        self.new_state(two, STATE_UP)
        one = two.peer
        if one is None or not one.alive:
            return
        self.new_state(one, STATE_UP)
        owner = self.owners.get(one.name)
        if owner is not None:
            owner.on_answer(one)

    def local_busy(self, two: Channel, congestion: bool) -> None:
        two.hangup_cause = 34 if congestion else 17
        self.new_state(two, STATE_BUSY)
        one = two.peer
        if one is None or not one.alive:
            return
        owner = self.owners.get(one.name)
        if owner is not None:
            owner.on_busy(one, congestion)

    # -- restart ---------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """``core restart now`` (transcript 15): every channel gets a soft hangup with the shutdown flag and
        its own thread tears it down. The causes are those of that moment: a telephone's ;2 half ends with
        cause 0 even when its partner's hangup reaches it later."""
        self.shutting_down = True
        live = list(self.channels)
        dialplan_halves = [
            c
            for c in live
            if c.name in self.threads and c.name not in self.dialers and self.threads[c.name].emits_soft_hangup
        ]
        callers = [c for c in live if c.name in self.dialers]
        others = [c for c in live if c not in dialplan_halves and c not in callers]
        # Threads running plain dialplan (Wait, Busy...) stop at once.
        for chan in dialplan_halves:
            self.soft_hangup(chan, SOFTHANGUP_SHUTDOWN)
            thread = self.threads[chan.name]
            thread.cancel_timer()
            thread.finished = True
            self.soft_hangup(chan)
        # Dial() callers leave their bridge and hang up, which their ;2 half hears about.
        for chan in callers:
            self.soft_hangup(chan, SOFTHANGUP_SHUTDOWN)
            self.dialers[chan.name].on_shutdown()
        for chan in others:
            if chan.alive:
                self.soft_hangup(chan, SOFTHANGUP_SHUTDOWN)
        for chan in dialplan_halves + others:
            if chan.alive:
                self._shutdown_channel(chan)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _shutdown_channel(self, chan: Channel) -> None:
        dialer = self.dialers.get(chan.name)
        if dialer is not None:
            dialer.on_shutdown()
            return
        thread = self.threads.get(chan.name)
        if thread is not None:
            thread.cancel_timer()
            thread.finished = True
            self.hangup(chan)
            return
        owner = self.owners.get(chan.name)
        if isinstance(owner, Dialer):
            owner.peer_shutdown(chan)
            return
        if isinstance(owner, Originate):
            owner.fail(reason=0)
        if chan.half == 1 and chan.hangup_cause == 0:
            chan.hangup_cause = 16
        self.hangup(chan)

    # -- recordings (optional) -------------------------------------------------------------------------

    def maybe_record(self, caller: Channel, callee: Channel) -> None:
        if self.settings.recordings_dir is None or caller.getvar("HUIBO_RECORD") != "1":
            return
        from .recording import write_recording

        name = f"{caller.linkedid}.wav"
        try:
            path = write_recording(self.settings.recordings_dir / name)
        except OSError as exc:
            log.warning("simulator.recording.failed path=%s error=%s", name, exc)
            return
        log.info("simulator.recording.written path=%s", path)


# -------------------------------------------------------------------------------------------------------
# Dialplan execution (pbx.c)
# -------------------------------------------------------------------------------------------------------


class PbxThread:
    """One channel running dialplan from its context/exten/priority."""

    emits_soft_hangup = True

    def __init__(self, pbx: Pbx, chan: Channel) -> None:
        self.pbx = pbx
        self.chan = chan
        self.timer: Timer | None = None
        self.finished = False
        self.on_interrupt: Callable[[], None] | None = None

    def lookup(self, name: str) -> str:
        chan = self.chan
        special = {
            "EXTEN": chan.exten,
            "CONTEXT": chan.context,
            "PRIORITY": str(chan.priority),
            "CHANNEL": chan.name,
            "UNIQUEID": chan.uniqueid,
            "HANGUPCAUSE": str(chan.hangup_cause),
        }
        if name in special:
            return special[name]
        return chan.getvar(name)

    def run(self) -> None:
        chan = self.chan
        pbx = self.pbx
        while not self.finished:
            if not chan.alive:
                return
            priorities = pbx.contexts_lookup(chan.context, chan.exten) or []
            prio = next((p for p in priorities if p.number == chan.priority), None)
            if prio is None:
                self.end()  # autofallthrough: off the end of the extension means hang up
                return
            data = dialplan.substitute(prio.data, self.lookup)
            pbx.newexten(chan, prio.app, data)
            result = self.execute(prio.app, data)
            if result == BLOCK:
                return
            if result == STOP:
                self.end()
                return
            if result == CONTINUE:
                chan.priority += 1
            # else: a jump already set chan.priority

    def resume(self) -> None:
        self.timer = None
        self.on_interrupt = None
        self.chan.priority += 1
        self.run()

    def wait(self, seconds: float, then: Callable[[], None] | None = None) -> str:
        self.timer = self.pbx.later(seconds, then or self.resume)
        return BLOCK

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def on_hangup_request(self) -> None:
        if self.finished:
            return
        self.cancel_timer()
        if self.on_interrupt is not None:
            self.on_interrupt()
        self.end()

    def end(self) -> None:
        """The dialplan stopped: the channel is hung up by its own thread."""
        if self.finished:
            return
        self.finished = True
        self.cancel_timer()
        if not self.chan.alive:
            return
        if self.emits_soft_hangup:
            self.pbx.soft_hangup(self.chan)
        self.pbx.hangup(self.chan)

    def jump(self, target: str) -> bool:
        """Goto within this extension (a label or a priority number)."""
        priorities = self.pbx.contexts_lookup(self.chan.context, self.chan.exten) or []
        for prio in priorities:
            if prio.label == target or str(prio.number) == target:
                self.chan.priority = prio.number
                return True
        return False

    # -- applications ---------------------------------------------------------------------------------

    def execute(self, app: str, data: str) -> str:
        handler = getattr(self, "app_" + app.lower(), None)
        if handler is None:
            log.warning("simulator.dialplan.unknown_app app=%s channel=%s", app, self.chan.name)
            return CONTINUE
        result: str = handler(data)
        return result

    def app_noop(self, data: str) -> str:
        return CONTINUE

    def app_ringing(self, data: str) -> str:
        if self.chan.pair is not None and self.chan.half == 2:
            self.pbx.local_ringing(self.chan)
        return CONTINUE

    def app_wait(self, data: str) -> str:
        return self.wait(_number(data))

    def app_answer(self, data: str) -> str:
        chan = self.chan
        if chan.state == STATE_UP:
            return CONTINUE
        if chan.pair is not None and chan.half == 2:
            self.pbx.local_answer(chan)
        else:
            self.pbx.new_state(chan, STATE_UP)
        peer = chan.peer
        first_leg = peer is not None and peer.name in self.pbx.originated
        return self.wait(MEDIA_WAIT_FIRST_LEG if first_leg else MEDIA_WAIT_OTHER)

    def app_hangup(self, data: str) -> str:
        cause = int(data) if data.strip().isdigit() else 0
        self.chan.hangup_cause = cause or self.chan.hangup_cause or 16
        return STOP

    def app_busy(self, data: str) -> str:
        return self._refuse(data, congestion=False)

    def app_congestion(self, data: str) -> str:
        return self._refuse(data, congestion=True)

    def _refuse(self, data: str, congestion: bool) -> str:
        if self.chan.pair is not None and self.chan.half == 2:
            self.pbx.local_busy(self.chan, congestion)
        else:
            self.chan.hangup_cause = 34 if congestion else 17
        return self.wait(_number(data) if data else 0, self.end)

    def app_set(self, data: str) -> str:
        name, _, value = data.partition("=")
        name = name.strip()
        if name.upper() == "TIMEOUT(ABSOLUTE)":
            seconds = _number(value)
            if seconds > 0:
                self.pbx.later(seconds, self._absolute_timeout)
            return CONTINUE
        if "(" in name:
            return CONTINUE  # other dialplan functions are not simulated
        self.pbx.set_var(self.chan, name, value)
        return CONTINUE

    def _absolute_timeout(self) -> None:
        """TIMEOUT(absolute) expired: the channel is hung up as if it had asked to (no HangupRequest)."""
        if self.finished or not self.chan.alive:
            return
        self.chan.hangup_cause = self.chan.hangup_cause or 16
        self.pbx._react_to_hangup(self.chan)

    def app_execif(self, data: str) -> str:
        condition, _, rest = data.partition("?")
        if_true, if_false = _split_branches(rest)
        chosen = if_true if _truthy(condition) else if_false
        if not chosen:
            return CONTINUE
        app, _, args = chosen.partition("(")
        return self.execute(app.strip(), args[:-1] if args.endswith(")") else args)

    def app_gotoif(self, data: str) -> str:
        condition, _, rest = data.partition("?")
        if_true, if_false = _split_branches(rest)
        target = if_true if _truthy(condition) else if_false
        if target and self.jump(target.split(",")[-1].strip()):
            return "jump"
        return CONTINUE

    def app_goto(self, data: str) -> str:
        parts = [p.strip() for p in data.split(",")]
        if len(parts) == 3:
            self.chan.context, self.chan.exten = parts[0], parts[1]
            self.chan.priority = int(parts[2]) if parts[2].isdigit() else 1
            return "jump"
        if len(parts) == 2:
            self.chan.exten = parts[0]
            self.chan.priority = int(parts[1]) if parts[1].isdigit() else 1
            return "jump"
        return "jump" if self.jump(parts[0]) else CONTINUE

    def app_playback(self, data: str) -> str:
        def done() -> None:
            self.pbx.set_var(self.chan, "PLAYBACKSTATUS", "SUCCESS")
            self.resume()

        return self.wait(PLAYBACK_SECONDS, done)

    def app_read(self, data: str) -> str:
        args = (data.split(",") + [""] * 6)[:6]
        variable, timeout = args[0].strip(), _number(args[5]) if args[5].strip() else 5.0
        peer = self.chan.peer
        presses = peer is not None and dialplan.confirm_presses_key(peer.exten)

        def done(digits: str, status: str) -> None:
            self.pbx.set_var(self.chan, variable, digits)
            self.pbx.set_var(self.chan, "READSTATUS", status)
            self.resume()

        if presses:
            return self.wait(min(KEYPRESS_SECONDS, timeout), lambda: done("1", "OK"))
        return self.wait(timeout, lambda: done("", "TIMEOUT"))

    def app_dial(self, data: str) -> str:
        dialer = Dialer(self.pbx, self, data)
        return dialer.start()


class AppThread(PbxThread):
    """An Originate with ``Application``: the answered ;1 runs that one application, then is hung up
    directly by the outgoing thread (no Newexten, no SoftHangupRequest: transcript 11)."""

    emits_soft_hangup = False

    def __init__(self, pbx: Pbx, chan: Channel, app: str, data: str) -> None:
        super().__init__(pbx, chan)
        self.app = app
        self.data = data

    def run(self) -> None:
        self.chan.app, self.chan.app_data = self.app, self.data
        result = self.execute(self.app, self.data)
        if result != BLOCK:
            self.end()

    def resume(self) -> None:
        self.timer = None
        self.end()


def _number(text: str) -> float:
    try:
        return float(text.strip() or 0)
    except ValueError:
        return 0.0


def _truthy(value: str) -> bool:
    return value.strip() not in ("", "0")


def _split_branches(text: str) -> tuple[str, str]:
    """``a(x):b(y)`` -> (``a(x)``, ``b(y)``), ignoring colons inside parentheses."""
    depth = 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == ":" and depth == 0:
            return text[:i], text[i + 1 :]
    return text, ""


# -------------------------------------------------------------------------------------------------------
# Dial() (app_dial.c) and the bridge it makes
# -------------------------------------------------------------------------------------------------------

_DIAL_VARS = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)


@dataclass
class Bridge:
    uniqueid: str
    members: list[Channel] = field(default_factory=list)

    def fields(self) -> Fields:
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", UNKNOWN),
            ("BridgeName", UNKNOWN),
            ("BridgeNumChannels", str(len(self.members))),
            ("BridgeVideoSourceMode", "none"),
        ]


class Dialer:
    """Dial(Local/<exten>@<context>,<timeout>) run by ``thread``'s channel (the caller)."""

    def __init__(self, pbx: Pbx, thread: PbxThread, data: str) -> None:
        self.pbx = pbx
        self.thread = thread
        self.caller = thread.chan
        parts = data.split(",")
        self.target = parts[0].strip()
        self.timeout = _number(parts[1]) if len(parts) > 1 else 0.0
        self.peer: Channel | None = None
        self.dial_string = ""
        self.timer: Timer | None = None
        self.rang = False
        self.started_at = pbx.clock.now
        self.bridge: Bridge | None = None
        self.done = False

    def start(self) -> str:
        pbx, caller = self.pbx, self.caller
        for name in _DIAL_VARS:
            pbx.set_var(caller, name, "")
        tech, _, resource = self.target.partition("/")
        exten, _, context = resource.partition("@")
        context = context.split("/")[0]
        if tech not in pbx.settings.loaded_techs or not exten or not context:
            self._freeze_cdr()
            pbx.set_var(caller, "DIALSTATUS", "CHANUNAVAIL")
            return CONTINUE
        pair = pbx.new_local_pair(exten, context, caller.linkedid)
        peer = self.peer = pair.one
        self.dial_string = f"{exten}@{context}"
        pbx.owners[peer.name] = self
        pbx.cdrs[peer.name] = []  # party B of the caller's record, no record of its own
        pbx.set_var(peer, "DIALEDPEERNUMBER", self.dial_string)
        for name, var in caller.inheritable():
            pbx.set_var(peer, var.set_name(name), var.value, at_tail=True)
        # app_dial copies the caller's exten to the peer. The peer's caller id number is the caller's
        # *extension* (transcript 11: 1100, not the Originate's 1005), its name and connected line the
        # caller's own id.
        peer.exten = caller.exten
        peer.cid_num, peer.cid_name = caller.exten, caller.cid_name
        peer.connected_num, peer.connected_name = caller.cid_num, caller.cid_name
        pbx.newexten(peer, "AppDial", "(Outgoing Line)")
        pbx.set_callerid(peer, peer.cid_num, peer.cid_name, None)
        pbx.set_connected(peer, peer.connected_num, peer.connected_name)
        if not pbx.local_call(pair):
            # The Local channel could not be called (no such extension): both halves go at once.
            pair.two.hangup_requested = pair.one.hangup_requested = True
            pbx.hangup(pair.two, notify_peer=False)
            pbx.hangup(peer, notify_peer=False)
            self._freeze_cdr()
            pbx.set_var(caller, "DIALSTATUS", "CHANUNAVAIL")
            return CONTINUE
        pbx.dialers[caller.name] = self
        self._cdr_begin()
        pbx.emit("DialBegin", [*pbx.snap(caller), *pbx.snap(peer, "Dest"), ("DialString", self.dial_string)])
        if self.timeout > 0:
            self.timer = pbx.later(self.timeout, self.on_timeout)
        return BLOCK

    # -- CDR bookkeeping ------------------------------------------------------------------------------

    def _freeze_cdr(self) -> None:
        # No peer ever existed: the caller's record keeps Dial as its last application (transcript 07c).
        for record in self.pbx.cdrs.get(self.caller.name, [])[-1:]:
            record.last_app = ("Dial", self.caller.app_data)

    def _cdr_begin(self) -> None:
        records = self.pbx.cdrs.get(self.caller.name, [])
        if not records or self.peer is None:
            return
        if isinstance(self.thread, AppThread):
            # Originate(Application=Dial): the record of the answered channel ends where Dial starts and
            # the dial gets a record of its own (transcript 11).
            now = self.pbx.clock.now
            records[-1].finish(now)
            records.append(CdrRecord(self.caller, start=now, answer=now))
        records[-1].destination_channel = self.peer.name

    def _cdr_failed(self, status: str) -> None:
        """The dial failed: its record ends with the dial's status, the rest of the call gets a new one."""
        records = self.pbx.cdrs.get(self.caller.name, [])
        if not records:
            return
        now = self.pbx.clock.now
        records[-1].dial_status = status
        records[-1].finish(now)
        records.append(CdrRecord(self.caller, start=now, answer=now))

    # -- outcomes -------------------------------------------------------------------------------------

    def _dial_end(self, status: str) -> None:
        assert self.peer is not None
        self.pbx.emit(
            "DialEnd", [*self.pbx.snap(self.caller), *self.pbx.snap(self.peer, "Dest"), ("DialStatus", status)]
        )

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _finish(self, dialstatus: str, continue_dialplan: bool) -> None:
        self.done = True
        self.pbx.dialers.pop(self.caller.name, None)
        self.pbx.set_var(self.caller, "DIALSTATUS", dialstatus)
        if continue_dialplan:
            self.thread.resume()
        else:
            self.thread.end()

    def on_ringing(self, chan: Channel) -> None:
        if self.rang or self.done:
            return
        self.rang = True
        elapsed = self.pbx.clock.now - self.started_at
        self.pbx.set_var(self.caller, "RINGTIME", str(int(elapsed)))
        self.pbx.set_var(self.caller, "RINGTIME_MS", str(int(elapsed * 1000)))
        assert self.peer is not None
        self.pbx.emit(
            "DialState", [*self.pbx.snap(self.caller), *self.pbx.snap(self.peer, "Dest"), ("DialStatus", "RINGING")]
        )

    def on_answer(self, chan: Channel) -> None:
        if self.done:
            return
        pbx, caller, peer = self.pbx, self.caller, chan
        self._stop_timer()
        pbx.set_var(caller, "DIALSTATUS", "ANSWER")
        pbx.set_var(caller, "DIALEDPEERNAME", peer.name)
        pbx.set_var(caller, "DIALEDPEERNUMBER", self.dial_string)
        peer.exten = ""
        self._dial_end("ANSWER")
        bridge = self.bridge = Bridge(str(uuid.uuid4()))
        pbx.emit("BridgeCreate", bridge.fields())
        pbx.newexten(peer, "AppDial", "(Outgoing Line)")
        for member in (peer, caller):
            bridge.members.append(member)
            pbx.emit("BridgeEnter", [*bridge.fields(), *pbx.snap(member)])
        pbx.set_var(peer, "BRIDGEPEER", caller.name)
        pbx.set_var(caller, "BRIDGEPEER", peer.name)
        pbx.maybe_record(caller, peer)

    def on_busy(self, chan: Channel, congestion: bool) -> None:
        if self.done:
            return
        status = "CONGESTION" if congestion else "BUSY"
        self._stop_timer()
        self._dial_end(status)
        self._cdr_failed(status)
        self.pbx.hangup(chan)
        self._finish(status, continue_dialplan=True)

    def on_timeout(self) -> None:
        if self.done or self.peer is None:
            return
        self.timer = None
        self._dial_end("NOANSWER")
        self._cdr_failed("NOANSWER")
        self.pbx.hangup(self.peer)
        self._finish("NOANSWER", continue_dialplan=True)

    def on_hangup_request(self, chan: Channel) -> None:
        """The peer's far end hung up (its ;2 hung up, so the ;1 got a HangupRequest)."""
        if self.done:
            return
        if self.bridge is not None:
            self._peer_left_bridge(chan)
            return
        self._stop_timer()
        cause = chan.hangup_cause
        if cause:
            # app_dial hands the peer's cause to the caller: Hangup() later reports it (07b: cause 1).
            self.caller.hangup_cause = cause
        status = {17: "BUSY", 34: "CONGESTION"}.get(cause, "NOANSWER")
        dialstatus = {17: "BUSY", 34: "CONGESTION", 16: "NOANSWER", 19: "NOANSWER", 0: "NOANSWER"}.get(
            cause, "CHANUNAVAIL"
        )
        self._dial_end(status)
        self._cdr_failed(status)
        self.pbx.hangup(chan)
        self._finish(dialstatus, continue_dialplan=True)

    def on_caller_hangup(self) -> None:
        """The caller's other half hung up (or its TIMEOUT(absolute) fired)."""
        if self.done:
            return
        if self.bridge is not None:
            self._caller_left_bridge()
            return
        self._stop_timer()
        if self.peer is not None and self.peer.alive:
            self._dial_end("CANCEL")
            self._cdr_failed("CANCEL")
            self.pbx.hangup(self.peer)
        self._finish("CANCEL", continue_dialplan=False)

    def _leave(self, chan: Channel) -> None:
        assert self.bridge is not None
        if chan in self.bridge.members:
            self.bridge.members.remove(chan)
            self.pbx.emit("BridgeLeave", [*self.bridge.fields(), *self.pbx.snap(chan)])

    def _clear_bridgepeer(self, first: Channel, second: Channel) -> None:
        self.pbx.set_var(first, "BRIDGEPEER", "")
        self.pbx.set_var(second, "BRIDGEPEER", "")

    def _answered_times(self) -> None:
        caller, now = self.caller, self.pbx.clock.now
        # app_dial reports the caller's own up time and age, not the peer's (transcript 01: 6508 ms).
        up = now - (caller.answered_at if caller.answered_at is not None else now)
        age = now - caller.created_at
        self.pbx.set_var(caller, "ANSWEREDTIME", str(int(up + 1e-6)))
        self.pbx.set_var(caller, "ANSWEREDTIME_MS", str(int(up * 1000 + 1e-6)))
        self.pbx.set_var(caller, "DIALEDTIME", str(int(age + 1e-6)))
        self.pbx.set_var(caller, "DIALEDTIME_MS", str(int(age * 1000 + 1e-6)))

    def _destroy_bridge(self) -> None:
        if self.bridge is not None:
            self.pbx.emit("BridgeDestroy", self.bridge.fields())

    def _peer_left_bridge(self, peer: Channel) -> None:
        """Transcript 01: the visitor hung up; the peer leaves, then the caller, then Dial returns."""
        self._clear_bridgepeer(peer, self.caller)
        self._leave(peer)
        self.pbx.hangup(peer)
        self._leave(self.caller)
        self._destroy_bridge()
        self._answered_times()
        if self.caller.hangup_cause == 0:
            self.caller.hangup_cause = 16
        self._finish("ANSWER", continue_dialplan=False)

    def _caller_left_bridge(self) -> None:
        """Transcript 02: the enterprise hung up; the caller leaves, Dial hangs the peer up, then returns."""
        peer = self.peer
        assert peer is not None
        self._clear_bridgepeer(self.caller, peer)
        self._leave(self.caller)
        self._leave(peer)
        self._answered_times()
        if peer.alive:
            peer.hangup_cause = peer.hangup_cause or 16
            self.pbx.hangup(peer)
        if self.caller.hangup_cause == 0:
            self.caller.hangup_cause = 16
        self.done = True
        self.pbx.dialers.pop(self.caller.name, None)
        self.pbx.set_var(self.caller, "DIALSTATUS", "ANSWER")
        self.thread.end()
        self._destroy_bridge()

    def on_shutdown(self) -> None:
        """``core restart``: the caller leaves the bridge and its dialplan ends; the peer's own thread
        hangs the peer up (transcript 15)."""
        self._stop_timer()
        self.done = True
        self.pbx.dialers.pop(self.caller.name, None)
        if self.bridge is not None and self.peer is not None:
            self._clear_bridgepeer(self.caller, self.peer)
            self._leave(self.caller)
            self._answered_times()
            self.pbx.set_var(self.caller, "DIALSTATUS", "ANSWER")
        else:
            self.pbx.set_var(self.caller, "DIALSTATUS", "CANCEL")
        if self.caller.hangup_cause == 0:
            self.caller.hangup_cause = 16
        self.thread.finished = True
        if self.thread.emits_soft_hangup:
            self.pbx.soft_hangup(self.caller)
        self.pbx.hangup(self.caller)

    def peer_shutdown(self, peer: Channel) -> None:
        if self.bridge is not None:
            self._leave(peer)
            if not self.bridge.members:
                self._destroy_bridge()
        if peer.hangup_cause == 0:
            peer.hangup_cause = 16
        self.pbx.hangup(peer)


# -------------------------------------------------------------------------------------------------------
# Originate (manager.c action_originate + fast_originate, pbx_outgoing.c)
# -------------------------------------------------------------------------------------------------------


@dataclass
class OriginateRequest:
    channel: str
    context: str = ""
    exten: str = ""
    priority: int = 1
    application: str = ""
    data: str = ""
    timeout: float = 30.0
    caller_num: str = ""
    caller_name: str = ""
    variables: list[tuple[str, str]] = field(default_factory=list)
    action_id: str | None = None
    channel_id: str | None = None
    other_channel_id: str | None = None
    is_async: bool = True


class Originate:
    """The outgoing thread: request the first leg, wait for it to answer, then start its dialplan."""

    def __init__(self, pbx: Pbx, request: OriginateRequest, on_done: Callable[[bool], None] | None = None) -> None:
        self.pbx = pbx
        self.request = request
        self.on_done = on_done
        self.chan: Channel | None = None
        self.timer: Timer | None = None
        self.finished = False

    def _target_fields(self) -> Fields:
        r = self.request
        if r.application:
            return [("Application", r.application), ("Data", r.data)]
        return [("Context", r.context), ("Exten", r.exten)]

    def _response(self, success: bool, reason: int) -> None:
        self.finished = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.on_done is not None:
            self.on_done(success)
        if not self.request.is_async:
            return  # a synchronous Originate answers in its Response instead
        r = self.request
        fields: Fields = []
        if r.action_id is not None:
            fields.append(("ActionID", r.action_id))
        chan = self.chan
        fields += [
            ("Response", "Success" if success else "Failure"),
            ("Channel", chan.name if success and chan is not None else r.channel),
            *self._target_fields(),
            ("Reason", str(reason)),
            (
                "Uniqueid",
                chan.uniqueid if success and chan is not None else (r.channel_id or "<unknown>"),
            ),
            ("CallerIDNum", r.caller_num or UNKNOWN),
            ("CallerIDName", r.caller_name or UNKNOWN),
        ]
        if success and chan is not None:
            fields += [(f"ChanVariable({chan.name})", f"{v}={chan.getvar(v)}") for v in self.pbx.settings.channelvars]
        self.pbx.emit("OriginateResponse", fields)

    def fail(self, reason: int) -> None:
        if not self.finished:
            self._response(False, reason)

    def start(self) -> None:
        pbx, r = self.pbx, self.request
        tech, _, resource = r.channel.partition("/")
        exten, _, context = resource.partition("@")
        context = context.split("/")[0]
        if tech not in pbx.settings.loaded_techs or not exten or not context:
            log.warning("simulator.originate.no_channel_driver channel=%s", r.channel)
            self.fail(reason=0)
            return
        for wanted in (r.channel_id, r.other_channel_id):
            conflict = pbx.uniqueid_in_use(wanted) if wanted else None
            if conflict is not None:
                # channel.c logs this and refuses to allocate the channel; the client sees a failed originate.
                log.error("Channel Unique ID '%s' already in use by channel %s", wanted, conflict.name)
                self.fail(reason=0)
                return
        pair = pbx.new_local_pair(exten, context, None, (r.channel_id, r.other_channel_id))
        chan = self.chan = pair.one
        pbx.owners[chan.name] = self
        pbx.originated[chan.name] = self
        pbx.newexten(chan, "AppDial2", "(Outgoing Line)")
        for name, value in r.variables:
            pbx.set_var(chan, name, value)
        pbx.set_callerid(chan, r.caller_num, r.caller_name, None)
        pbx.set_connected(chan, r.caller_num, r.caller_name)
        if not pbx.local_call(pair):
            # No such extension for the first leg (08b): both halves are destroyed without ringing.
            pair.two.hangup_requested = chan.hangup_requested = True
            pbx.hangup(pair.two, notify_peer=False)
            self.fail(reason=0)
            pbx.hangup(chan, notify_peer=False)
            return
        pbx.emit("DialBegin", [*pbx.snap(chan, "Dest"), ("DialString", f"{exten}@{context}")])
        self.timer = pbx.later(r.timeout, self.on_timeout)

    def _dial(self, status: str) -> None:
        assert self.chan is not None
        self.pbx.emit("DialEnd", [*self.pbx.snap(self.chan, "Dest"), ("DialStatus", status)])
        for record in self.pbx.cdrs.get(self.chan.name, [])[:1]:
            if status != "ANSWER":
                record.dial_status = status

    def on_ringing(self, chan: Channel) -> None:
        self.pbx.emit("DialState", [*self.pbx.snap(chan, "Dest"), ("DialStatus", "RINGING")])

    def on_answer(self, chan: Channel) -> None:
        if self.finished:
            return
        pbx, r = self.pbx, self.request
        self._dial("ANSWER")
        self._response(True, 4)
        pbx.owners.pop(chan.name, None)
        thread: PbxThread
        if r.application:
            thread = AppThread(pbx, chan, r.application, r.data)
        else:
            chan.context, chan.exten, chan.priority = r.context, r.exten, r.priority
            thread = PbxThread(pbx, chan)
        pbx.threads[chan.name] = thread
        thread.run()

    def on_busy(self, chan: Channel, congestion: bool) -> None:
        if self.finished:
            return
        self._dial("CONGESTION" if congestion else "BUSY")
        self.pbx.hangup(chan)
        self._response(False, 8 if congestion else 5)

    def on_hangup_request(self, chan: Channel) -> None:
        """The first leg's phone hung up before answering (6NN): Reason 0."""
        if self.finished:
            self.pbx.hangup(chan)
            return
        self._dial("NOANSWER")
        self._response(False, 0)
        self.pbx.hangup(chan)

    def on_timeout(self) -> None:
        """The Originate Timeout expired while ringing: cause 19, Reason 3, no DialEnd (transcript 04)."""
        self.timer = None
        chan = self.chan
        if self.finished or chan is None or not chan.alive:
            return
        chan.hangup_cause = 19
        self.pbx.hangup(chan)
        self._response(False, 3)
