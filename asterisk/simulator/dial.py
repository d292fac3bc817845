"""Dial(), as app_dial.c runs it, and the basic two-party bridge it makes when the called party answers:
the DIAL* variables, DialBegin/DialState/DialEnd, one or several peers at once (the first to answer wins,
the others are cancelled), BridgeCreate/Enter/Leave/Destroy, who leaves first, and what the caller's CDRs
record.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .apps import BLOCK, CONTINUE, AppThread, PbxThread, number
from .cdr import CdrRecord
from .channels import STATE_UP, UNKNOWN, Channel, LocalPair
from .clock import Timer
from .protocol import Fields

if TYPE_CHECKING:
    from .pbx import Pbx

CAUSE_NORMAL_CLEARING = 16
CAUSE_BUSY = 17
CAUSE_NO_ANSWER = 19
CAUSE_ANSWERED_ELSEWHERE = 26
CAUSE_CONGESTION = 34

# ast_hangup_cause_to_dial_status(): the DialEnd of a peer that hung up before answering.
_HANGUP_DIAL_STATUS = {CAUSE_BUSY: "BUSY", CAUSE_CONGESTION: "CONGESTION", 3: "CHANUNAVAIL", 20: "CHANUNAVAIL"}

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


@dataclass
class Outgoing:
    """One destination of a Dial (app_dial's ``chanlist``): the Local pair called and its dial string."""

    pair: LocalPair
    dial_string: str
    # DIAL_STILLGOING: called, and neither answered, failed nor cancelled yet
    going: bool = True

    @property
    def chan(self) -> Channel:
        return self.pair.one


class Dialer:
    """Dial(Local/<exten>@<context>[&Local/<exten>@<context>...],<timeout>) run by ``thread``'s channel (the
    caller). As dial_exec_full() does: every destination is requested, then all of them are called; the first
    to answer is bridged and the others are cancelled; once none is left ringing, wait_for_answer() works
    DIALSTATUS out from how each one failed."""

    def __init__(self, pbx: Pbx, thread: PbxThread, data: str) -> None:
        self.pbx = pbx
        self.thread = thread
        self.caller = thread.chan
        parts = data.split(",")
        self.targets = [target.strip() for target in parts[0].split("&")]
        self.timeout = number(parts[1]) if len(parts) > 1 else 0.0
        self.outgoing: list[Outgoing] = []
        self.peer: Channel | None = None  # the destination that answered
        self.timer: Timer | None = None
        self.rang = False
        self.started_at = pbx.clock.now
        self.bridge: Bridge | None = None
        self.done = False
        # handle_cause()'s tallies over every destination, against the number of lines dialled
        self.lines = self.busy = self.congestion = self.nochan = 0

    def start(self) -> str:
        pbx, caller = self.pbx, self.caller
        for name in _DIAL_VARS:
            pbx.set_var(caller, name, "")
        requested = [outgoing for outgoing in map(self._request, self.targets) if outgoing is not None]
        for outgoing in requested:
            self._call(outgoing)
        if not self.outgoing:
            self._freeze_cdr()
            pbx.set_var(caller, "DIALSTATUS", "CHANUNAVAIL")
            return CONTINUE
        pbx.dialers[caller.name] = self
        if self.timeout > 0:
            self.timer = pbx.later(self.timeout, self.on_timeout)
        return BLOCK

    def _request(self, target: str) -> Outgoing | None:
        """ast_request() and the peer's set-up: the pair, DIALEDPEERNUMBER, inherited variables, caller id."""
        pbx, caller = self.pbx, self.caller
        tech, _, resource = target.partition("/")
        exten, _, context = resource.partition("@")
        context = context.split("/")[0]
        if tech not in pbx.settings.loaded_techs or not exten or not context:
            # no channel: a line all the same, which handle_cause() counts unavailable
            self.lines += 1
            self._count(0)
            return None
        pair = pbx.new_local_pair(exten, context, caller.linkedid)
        peer = pair.one
        dial_string = resource  # options included, as Asterisk reports it (1100@phones/n)
        pbx.owners[peer.name] = self
        pbx.cdrs[peer.name] = []  # party B of the caller's record, no record of its own
        pbx.set_var(peer, "DIALEDPEERNUMBER", dial_string)
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
        return Outgoing(pair, dial_string)

    def _call(self, outgoing: Outgoing) -> None:
        """ast_call(), then DialBegin. A Local channel whose extension does not exist cannot be called: both
        halves go at once and the destination is dropped without counting."""
        pbx, pair = self.pbx, outgoing.pair
        if not pbx.local_call(pair):
            pair.two.hangup_requested = pair.one.hangup_requested = True
            pbx.hangup(pair.two, notify_peer=False)
            pbx.hangup(pair.one, notify_peer=False)
            return
        self._cdr_begin(outgoing.chan, first=not self.outgoing)
        self.outgoing.append(outgoing)
        self.lines += 1
        pbx.emit(
            "DialBegin",
            [*pbx.snap(self.caller), *pbx.snap(outgoing.chan, "Dest"), ("DialString", outgoing.dial_string)],
        )

    def _find(self, chan: Channel) -> Outgoing:
        return next(outgoing for outgoing in self.outgoing if outgoing.chan is chan)

    # -- CDR bookkeeping ------------------------------------------------------------------------------

    def _freeze_cdr(self) -> None:
        # No peer ever existed: the caller's record keeps Dial as its last application (transcript 07c).
        for record in self.pbx.cdrs.get(self.caller.name, [])[-1:]:
            record.last_app = ("Dial", self.caller.app_data)

    def _new_record(self, now: float) -> CdrRecord:
        return CdrRecord(self.caller, start=now, answer=now if self.caller.state == STATE_UP else None)

    def _cdr_begin(self, peer: Channel, first: bool) -> None:
        records = self.pbx.cdrs.get(self.caller.name, [])
        if not records:
            return
        now = self.pbx.clock.now
        if not first:
            # cdr.c: a record already dialling turns a second DialBegin down, so every further peer gets a
            # record of its own with that peer as party B
            records.append(self._new_record(now))
        elif isinstance(self.thread, AppThread):
            # Originate(Application=Dial): the record of the answered channel ends where Dial starts and
            # the dial gets a record of its own (transcript 11).
            records[-1].finish(now)
            records.append(self._new_record(now))
        records[-1].destination_channel = peer.name

    def _cdr_end(self, peer: Channel, status: str) -> None:
        """DialEnd for a peer that did not answer: the record naming it ends with the dial's status."""
        for record in self.pbx.cdrs.get(self.caller.name, []):
            if record.destination_channel == peer.name and record.end is None:
                record.dial_status = status
                record.finish(self.pbx.clock.now)

    # -- outcomes -------------------------------------------------------------------------------------

    def _dial_end(self, peer: Channel, status: str) -> None:
        self.pbx.emit("DialEnd", [*self.pbx.snap(self.caller), *self.pbx.snap(peer, "Dest"), ("DialStatus", status)])

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _finish(self, dialstatus: str, continue_dialplan: bool) -> None:
        self.done = True
        self.pbx.dialers.pop(self.caller.name, None)
        if continue_dialplan:
            # the dialplan goes on after a failed Dial: cdr.c opens a record for the rest of the call
            records = self.pbx.cdrs.get(self.caller.name)
            if records:
                records.append(self._new_record(self.pbx.clock.now))
        self.pbx.set_var(self.caller, "DIALSTATUS", dialstatus)
        if continue_dialplan:
            self.thread.resume()
        else:
            self.thread.end()

    def _cancel_all(self, status: str, hangup_cause: int | None = None) -> None:
        """publish_dial_end_event() then hanguptree(): every peer still ringing gets its DialEnd, then each
        is hung up, with ``hangup_cause`` if given, else with its own."""
        ringing = [outgoing for outgoing in self.outgoing if outgoing.going]
        for outgoing in ringing:
            outgoing.going = False
            self._dial_end(outgoing.chan, status)
            self._cdr_end(outgoing.chan, status)
        for outgoing in ringing:
            if hangup_cause is not None:
                outgoing.chan.hangup_cause = hangup_cause
            self.pbx.hangup(outgoing.chan)

    def _count(self, cause: int) -> None:
        """handle_cause(): busy, congestion, or unavailable; normal clearing and no answer count as neither."""
        if cause == CAUSE_BUSY:
            self.busy += 1
        elif cause == CAUSE_CONGESTION:
            self.congestion += 1
        elif cause not in (CAUSE_NORMAL_CLEARING, CAUSE_NO_ANSWER):
            self.nochan += 1

    def _verdict(self) -> str:
        """wait_for_answer() once no peer is left: when every line failed with a counted cause, BUSY if any was
        busy, else CONGESTION if any was congested, else CHANUNAVAIL; otherwise NOANSWER."""
        if self.lines != self.busy + self.congestion + self.nochan:
            return "NOANSWER"
        if self.busy:
            return "BUSY"
        return "CONGESTION" if self.congestion else "CHANUNAVAIL"

    def _peer_failed(self, peer: Channel, status: str, cause: int) -> None:
        """One peer is out before answering: app_dial hands its hangup cause to the caller (Hangup() reports
        it later: 07b, cause 1), sends its DialEnd, hangs it up and counts ``cause``; the Dial ends with the
        last peer."""
        self.caller.hangup_cause = peer.hangup_cause
        self._find(peer).going = False
        self._dial_end(peer, status)
        self._cdr_end(peer, status)
        self.pbx.hangup(peer)
        self._count(cause)
        if not any(outgoing.going for outgoing in self.outgoing):
            self._stop_timer()
            self._finish(self._verdict(), continue_dialplan=True)

    def on_ringing(self, chan: Channel) -> None:
        if self.done:
            return
        pbx = self.pbx
        if not self.rang:
            # app_dial passes the first ringing on to the caller and times it
            self.rang = True
            pbx.indicate_ringing(self.caller)
            elapsed = pbx.clock.now - self.started_at
            pbx.set_var(self.caller, "RINGTIME", str(int(elapsed)))
            pbx.set_var(self.caller, "RINGTIME_MS", str(int(elapsed * 1000)))
        pbx.emit("DialState", [*pbx.snap(self.caller), *pbx.snap(chan, "Dest"), ("DialStatus", "RINGING")])

    def on_answer(self, chan: Channel) -> None:
        if self.done or self.peer is not None:
            return
        pbx, caller, peer = self.pbx, self.caller, chan
        self._stop_timer()
        self.peer = peer
        answered = self._find(peer)
        answered.going = False
        peer.exten = ""
        # the others are cancelled, then hung up as answered elsewhere (the default of Dial's Q option)
        self._cancel_all("CANCEL", hangup_cause=CAUSE_ANSWERED_ELSEWHERE)
        pbx.set_var(caller, "DIALSTATUS", "ANSWER")
        pbx.set_var(caller, "DIALEDPEERNAME", peer.name)
        pbx.set_var(caller, "DIALEDPEERNUMBER", answered.dial_string)
        self._dial_end(peer, "ANSWER")
        if caller.state != STATE_UP:
            pbx.answer(caller)  # ast_bridge_call() answers the caller before it builds the bridge
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
        if congestion:
            self._peer_failed(chan, "CONGESTION", CAUSE_CONGESTION)
        else:
            self._peer_failed(chan, "BUSY", CAUSE_BUSY)

    def on_timeout(self) -> None:
        if self.done:
            return
        self.timer = None
        self._cancel_all("NOANSWER")
        self._finish("NOANSWER", continue_dialplan=True)

    def on_hangup_request(self, chan: Channel) -> None:
        """The peer's far end hung up (its ;2 hung up, so the ;1 got a HangupRequest)."""
        if self.done:
            return
        if self.bridge is not None:
            self._peer_left_bridge(chan)
            return
        cause = chan.hangup_cause
        self._peer_failed(chan, _HANGUP_DIAL_STATUS.get(cause, "NOANSWER"), cause)

    def on_caller_hangup(self) -> None:
        """The caller's other half hung up (or its TIMEOUT(absolute) fired)."""
        if self.done:
            return
        if self.bridge is not None:
            self._caller_left_bridge()
            return
        self._stop_timer()
        self._cancel_all("CANCEL")
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
