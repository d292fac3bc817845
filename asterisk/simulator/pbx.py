"""The PBX core: what Asterisk's channel core, core_local.c, pbx.c, app_dial.c, the basic bridge and
cdr.c do for Huibo's calls, producing the AMI events a real Asterisk 22 produces, in a causally valid order.

Shape of a callback (see the transcripts): ``Originate`` creates a Local pair for the first leg; its ``;2``
runs the telephone's dialplan; when it answers, ``;1`` runs the callback context, whose Dial() creates the
second Local pair; when that answers, the two ``;1`` halves are bridged. Every channel shares the Linkedid
of the first ``;1``.

Threads of the real thing are modelled as callbacks: a channel's dialplan (apps.PbxThread), the
originate thread (originate.Originate) and Dial() (dial.Dialer). What another thread would do "next" is
deferred to the end of the current burst, in order.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from . import dialplan
from .bus import Event, EventBus
from .cdr import CdrRecord
from .channels import (
    STATE_BUSY,
    STATE_DOWN,
    STATE_RING,
    STATE_RINGING,
    STATE_UP,
    Channel,
    LocalPair,
    cause_text,
    snapshot,
)
from .clock import Clock, Timer
from .protocol import Fields

if TYPE_CHECKING:
    from .apps import PbxThread
    from .dial import Dialer
    from .originate import Originate

log = logging.getLogger(__name__)

CALL = "call,all"
DIALPLAN = "dialplan,all"
CDR = "cdr,all"

# SoftHangupRequest's Cause is Asterisk's internal soft-hangup flag, not a Q.850 cause.
SOFTHANGUP_NORMAL = 16
SOFTHANGUP_SHUTDOWN = 4

# Pbx.later() drops fired and cancelled timers from its list (kept for reset and shutdown) past this many.
_TIMERS_PRUNED_FROM = 256


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


class Pbx:
    def __init__(self, clock: Clock, bus: EventBus, settings: PbxSettings | None = None) -> None:
        self.clock = clock
        self.bus = bus
        self.settings = settings or PbxSettings()
        self.contexts = dialplan.load(self.settings.production_dialplan)
        self.channels: dict[str, Channel] = {}  # live channels by name, oldest first
        # Live channels by Uniqueid. A list, as a generated Uniqueid could repeat one an Originate chose.
        self._by_uniqueid: dict[str, list[Channel]] = {}
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
        self._prune_timers_at = _TIMERS_PRUNED_FROM
        self.channels.clear()
        self._by_uniqueid.clear()
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
        if len(self._timers) > self._prune_timers_at:
            self._timers = [t for t in self._timers if not t.cancelled and t.when >= self.clock.now]
            # next prune once the list has doubled: with thousands of calls in flight (each holding a live
            # timer) a fixed threshold would scan every timer on every new one
            self._prune_timers_at = max(_TIMERS_PRUNED_FROM, 2 * len(self._timers))
        return timer

    @property
    def uptime(self) -> int:
        """Seconds since boot on the wall clock, even when calls run compressed: a client tells a restart from
        a link blip by comparing Uptime with its own clock (a real Asterisk's Uptime is wall time too)."""
        return int((self.clock.now - self.booted_at) * self.clock.time_scale)

    def find(self, name: str) -> Channel | None:
        return self.channels.get(name)

    def uniqueid_in_use(self, uniqueid: str) -> Channel | None:
        same = self._by_uniqueid.get(uniqueid)
        return same[0] if same else None

    # -- events ----------------------------------------------------------------------------------------

    def emit(
        self,
        name: str,
        fields: Fields,
        privilege: str = CALL,
        *,
        device: str | None = None,
        device_invalid: bool = False,
        opens: LocalPair | None = None,
        closes: LocalPair | None = None,
    ) -> None:
        self.bus.emit(Event(name, privilege, fields, device, device_invalid, opens, closes))

    def snap(self, chan: Channel, prefix: str = "") -> Fields:
        return snapshot(chan, self.settings.channelvars, prefix)

    def chan_event(
        self,
        name: str,
        chan: Channel,
        extra: Fields | None = None,
        privilege: str = CALL,
        *,
        closes: LocalPair | None = None,
    ) -> None:
        """An event about one channel: its snapshot, then ``extra``. It publishes a fresh snapshot."""
        chan.cached_snapshot = None
        if closes is None and not self.bus.delivers(privilege.split(",", 1)[0]):
            return  # nobody would see it (production's AMI user reads no dialplan events): skip building it
        self.emit(name, [*self.snap(chan), *(extra or [])], privilege, closes=closes)

    def newexten(self, chan: Channel, app: str, data: str) -> None:
        chan.app, chan.app_data = app, data
        self.chan_event(
            "Newexten", chan, [("Extension", chan.exten), ("Application", app), ("AppData", data)], DIALPLAN
        )

    def set_var(self, chan: Channel, name: str, value: str, at_tail: bool = False) -> None:
        """Set(): the VarSet carries the channel's last published snapshot (see Channel.cached_snapshot)."""
        chan.setvar(name, value, at_tail)
        if not self.bus.delivers("dialplan"):
            return
        published = chan.cached_snapshot if chan.cached_snapshot is not None else self.snap(chan)
        self.emit("VarSet", [*published, ("Variable", name), ("Value", value)], DIALPLAN)

    def new_state(self, chan: Channel, state: int) -> None:
        chan.state = state
        if state == STATE_UP and chan.answered_at is None:
            chan.answered_at = self.clock.now
            # every record still open gets the answer time (a Dial to several peers keeps one per peer)
            for record in self.cdrs.get(chan.name, []):
                if record.answer is None and record.end is None:
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

    def contexts_lookup(self, context: str, exten: str) -> Sequence[dialplan.Priority] | None:
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
            self.channels[chan.name] = chan
            self._by_uniqueid.setdefault(chan.uniqueid, []).append(chan)
            self.cdrs[chan.name] = [CdrRecord(chan, start=now)]
            chan.cached_snapshot = self.snap(chan)
            self.emit("Newchannel", chan.cached_snapshot, opens=pair if chan is one else None)
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
        from .apps import PbxThread

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
        del self.channels[chan.name]
        same = self._by_uniqueid[chan.uniqueid]
        same.remove(chan)
        if not same:
            del self._by_uniqueid[chan.uniqueid]
        self.threads.pop(chan.name, None)
        self.owners.pop(chan.name, None)
        self.dialers.pop(chan.name, None)
        for record in self.cdrs.pop(chan.name, []):
            record.finish(self.clock.now)
            self.emit("Cdr", record.fields(self.clock.wall_start), CDR)

    def soft_hangup(self, chan: Channel, flag: int = SOFTHANGUP_NORMAL) -> None:
        self.chan_event("SoftHangupRequest", chan, [("Cause", str(flag))])

    # -- Local ;2 telling its ;1 ----------------------------------------------------------------------

    def answer(self, chan: Channel) -> None:
        """ast_raw_answer(): a Local ;2 answers its ;1 too, whose owner hears of it."""
        if chan.pair is not None and chan.half == 2:
            self.local_answer(chan)
        else:
            self.new_state(chan, STATE_UP)

    def indicate_ringing(self, chan: Channel) -> None:
        """ast_indicate(RINGING): only a Local ;2 shows it, as its ;1 turning Ringing (the ;2 stays in Ring)."""
        one = chan.peer
        if chan.half != 2 or one is None or not one.alive or one.state == STATE_RINGING or one.state == STATE_UP:
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
        live = list(self.channels.values())
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
        from .dial import Dialer
        from .originate import Originate

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
        if self.settings.recordings_dir is None or not caller.mixmonitor:
            return
        from .recording import write_recording

        name = f"{caller.linkedid}.wav"
        try:
            path = write_recording(self.settings.recordings_dir / name)
        except OSError as exc:
            log.warning("simulator.recording.failed path=%s error=%s", name, exc)
            return
        log.info("simulator.recording.written path=%s", path)
