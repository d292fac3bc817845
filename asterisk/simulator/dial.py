"""Dial(), as app_dial.c runs it, and the basic two-party bridge it makes when the called party answers:
the DIAL* variables, DialBegin/DialState/DialEnd, BridgeCreate/Enter/Leave/Destroy, who leaves first, and
what the caller's CDR records when the dial fails.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .apps import BLOCK, CONTINUE, AppThread, PbxThread, number
from .cdr import CdrRecord
from .channels import UNKNOWN, Channel
from .clock import Timer
from .protocol import Fields

if TYPE_CHECKING:
    from .pbx import Pbx

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
        self.timeout = number(parts[1]) if len(parts) > 1 else 0.0
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
