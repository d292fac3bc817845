"""Follows each callback's channels through Asterisk's AMI events and reports facts about it.

What Asterisk says during a callback (see ../shared/asterisk/README.md): the Originate creates a
Local channel pair, ``;1`` (whose Uniqueid is our ChannelId and the Linkedid of every channel of
the call) and ``;2`` (the first party's phone side). ``OriginateResponse`` (matched by ActionID)
says whether the first party answered. The ``;1`` half then runs the callback context and
``Dial``s the second party through another Local pair; that Dial's ``DialBegin``/``DialEnd`` carry
the caller's Uniqueid, unlike the Originate's own dialling, which shows only ``Dest*`` fields.
The real Q.850 cause of a failed leg is on its ``;2`` half's ``Hangup``. The attempt is over when
the OriginateResponse has come (it may come after the Hangups) and every channel is gone.

Simultaneous ring puts a ring group in the first leg's place: the first pair is
``Local/s@huibo-ringall``, whose ``;2`` half Dials every member at once; its ``DialEnd ANSWER`` names
the member that answered (``Local/<digits>@huibo-outbound-…;1``) and ``CANCEL`` the others.

The tracker is plain Python, fed one message at a time from the listener's applier thread. It keeps
no state about calls it did not see start, and logs and ignores events it cannot place.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from callback.ami import AmiMessage
from callback.facts import (
    AttemptEnded,
    CdrReported,
    Connected,
    Disposition,
    Fact,
    FirstLegAnswered,
    GroupMemberAnswered,
    LegReport,
    SecondLegDialing,
)

logger = logging.getLogger(__name__)

# OriginateResponse Reason codes (Asterisk's enum ast_control_frame_type as the outcome of the dial).
ORIGINATE_REASON_DISPOSITION = {
    "4": Disposition.ANSWERED,
    "5": Disposition.BUSY,
    "8": Disposition.CONGESTION,
    "3": Disposition.NO_ANSWER,
    "1": Disposition.NO_ANSWER,  # hung up while ringing
}
DIAL_STATUS_DISPOSITION = {
    "ANSWER": Disposition.ANSWERED,
    "BUSY": Disposition.BUSY,
    "NOANSWER": Disposition.NO_ANSWER,
    "CONGESTION": Disposition.CONGESTION,
    "CHANUNAVAIL": Disposition.FAILED,
    "CANCEL": Disposition.CANCELLED,
}
# Q.850 causes that say more than the Dial status does.
CAUSE_DISPOSITION = {
    1: Disposition.UNALLOCATED,
    17: Disposition.BUSY,
    21: Disposition.REJECTED,
    34: Disposition.CONGESTION,
}
CHANNEL_STATE_UP = "6"  # AST_STATE_UP
# A call whose channels are all gone waits this long for its OriginateResponse, which may come after the last Hangup
# (milliseconds later). One that gets none was not placed by Huibo (an inbound call, another AMI client's Originate):
# it is forgotten, so the long-running listener does not keep every such call for ever.
VERDICT_WAIT = timedelta(seconds=60)
# How many finished calls to remember, so a Cdr arriving after the last Hangup still finds its call.
_RECENTLY_ENDED = 4096


def _now() -> datetime:
    return datetime.now(UTC)


def _local_exten(channel_name: str) -> str:
    """``Local/8613900001001@huibo-outbound-0000000a;1`` → ``8613900001001``."""
    return channel_name.removeprefix("Local/").split("@", 1)[0]


def _pair_prefix(channel_name: str) -> str:
    """``Local/1100@huibo-outbound-00000002;1`` → ``Local/1100@huibo-outbound-00000002;``."""
    return channel_name[:-1] if channel_name[-2:] in (";1", ";2") else channel_name


@dataclass
class _Call:
    channel_id: str
    first_prefix: str = ""
    second_prefix: str = ""
    live: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)
    seen_channels: bool = False
    first_disposition: Disposition | None = None
    first_answered_at: datetime | None = None
    second_dialing: bool = False
    second_dial_status: Disposition | None = None
    connected_at: datetime | None = None
    causes: dict[str, tuple[int, str, datetime]] = field(default_factory=dict)
    phone_hangup_order: list[str] = field(default_factory=list)
    cdrs: list[dict[str, str]] = field(default_factory=list)
    shutdown: bool = False


class CallTracker:
    """Turns a stream of AMI events from one Asterisk node into facts about our attempts.

    ``channel_id_for_action`` maps an Originate's ActionID to the attempt's ChannelId; it is asked
    only when a failed OriginateResponse carries ``Uniqueid: <unknown>`` (no ChannelId was sent).
    """

    def __init__(self, *, channel_id_for_action: Callable[[str], str | None], clock: Callable[[], datetime] = _now):
        self._channel_id_for_action = channel_id_for_action
        self._clock = clock
        self._calls: dict[str, _Call] = {}
        self._channel_call: dict[str, str] = {}
        # Channels of recently ended calls → their call, for Cdr events that come after the last Hangup.
        self._ended: dict[str, str] = {}
        self._at = clock()  # when the message being fed was received
        # Calls with every channel gone and no OriginateResponse yet → since when (oldest first).
        self._awaiting_verdict: dict[str, datetime] = {}

    @property
    def live_calls(self) -> int:
        return len(self._calls)

    def feed(self, message: AmiMessage, *, received_at: datetime | None = None) -> list[Fact]:
        """The facts ``message`` tells, timed when it was received (default: now): a listener behind a backlog
        applies it later, and the legs are billed from these times."""
        handler = self._HANDLERS.get(message.name) if message.is_event else None
        if handler is None:
            return []
        self._at = received_at or self._clock()
        facts = handler(self, message)
        self._forget_calls_without_verdict()
        return facts

    def adopt(
        self,
        *,
        channel_id: str,
        channels: list[AmiMessage],
        first_answered: bool,
        connected_at: datetime | None,
    ) -> list[Fact]:
        """Follow a call that was already up when we (re)connected, from its CoreShowChannel events; the facts of
        what happened while we were away (``first_answered``, ``connected_at``: what we knew before)."""
        if channel_id in self._calls:
            return []
        names = {m.get("Uniqueid") or "": m.get("Channel") or "" for m in channels}
        first = next((m for m in channels if m.get("Uniqueid") == channel_id), None)
        first_name = names.get(channel_id, "")
        call = _Call(channel_id=channel_id, first_prefix=_pair_prefix(first_name) if first_name else "")
        call.names = names
        call.live = set(names)
        call.seen_channels = True
        call.connected_at = connected_at
        # The second party's Local pair (the phones' own trunk channels share the Linkedid too).
        others = [
            n
            for n in names.values()
            if n.startswith("Local/") and not (call.first_prefix and n.startswith(call.first_prefix))
        ]
        if others:
            call.second_prefix = _pair_prefix(others[0])
            call.second_dialing = True
        self._calls[channel_id] = call
        for uniqueid in names:
            self._channel_call[uniqueid] = channel_id
        facts: list[Fact] = []
        now = self._clock()
        # The first ;1 is Up once the first party answered, and in a bridge once the second one did.
        if first_answered or (first is not None and first.get("ChannelState") == CHANNEL_STATE_UP):
            call.first_disposition = Disposition.ANSWERED
            if not first_answered:
                call.first_answered_at = now
                facts.append(FirstLegAnswered(channel_id=channel_id, at=now))
        if connected_at is None and first is not None and first.get("BridgeId"):
            call.connected_at = now
            facts.append(Connected(channel_id=channel_id, at=now))
        return facts

    def forget(self) -> None:
        """Drop every call: after an Asterisk restart none of them exists any more."""
        self._calls.clear()
        self._channel_call.clear()
        self._awaiting_verdict.clear()

    def _forget_calls_without_verdict(self) -> None:
        while self._awaiting_verdict:
            channel_id, since = next(iter(self._awaiting_verdict.items()))
            if self._at - since < VERDICT_WAIT:
                return
            del self._awaiting_verdict[channel_id]
            call = self._calls.pop(channel_id, None)
            for uniqueid in call.names if call is not None else ():
                self._channel_call.pop(uniqueid, None)

    # -- handlers: each says what Asterisk means by the event -------------------------------------

    def _on_newchannel(self, message: AmiMessage) -> list[Fact]:
        """A channel was created. Every channel of a callback carries the Linkedid of its first ``;1``."""
        uniqueid, linkedid, name = message.get("Uniqueid"), message.get("Linkedid"), message.get("Channel") or ""
        if not uniqueid or not linkedid:
            return []
        call = self._calls.get(linkedid)
        if call is None:
            if uniqueid != linkedid:
                return []  # a channel of a call we never saw start
            call = self._calls[linkedid] = _Call(channel_id=linkedid, first_prefix=_pair_prefix(name))
        call.live.add(uniqueid)
        call.names[uniqueid] = name
        call.seen_channels = True
        self._channel_call[uniqueid] = linkedid
        return []

    def _on_dial_begin(self, message: AmiMessage) -> list[Fact]:
        """A Dial started. With a caller Uniqueid it is our dialplan dialling the second party."""
        caller = message.get("Uniqueid")
        if not caller:
            return []  # the Originate's own dialling of the first party: OriginateResponse tells its outcome
        call = self._calls.get(caller)
        if call is None:
            return []
        call.second_prefix = _pair_prefix(message.get("DestChannel") or "")
        call.second_dialing = True
        facts: list[Fact] = []
        if call.first_disposition is None:
            # Only an answered ;1 runs the callback context that dials; OriginateResponse may come later (07b, 10).
            call.first_disposition = Disposition.ANSWERED
            call.first_answered_at = self._at
            facts.append(FirstLegAnswered(channel_id=call.channel_id, at=call.first_answered_at))
        facts.append(SecondLegDialing(channel_id=call.channel_id, at=self._at))
        return facts

    def _on_dial_end(self, message: AmiMessage) -> list[Fact]:
        """A Dial finished; DialStatus ANSWER from our dialplan's Dial means both parties are up."""
        caller = message.get("Uniqueid") or ""
        call = self._calls.get(caller)
        if call is None:
            return self._on_group_dial_end(message, caller)
        status = DIAL_STATUS_DISPOSITION.get(message.get("DialStatus") or "", Disposition.FAILED)
        call.second_dial_status = status
        if status is Disposition.ANSWERED and call.connected_at is None:
            call.connected_at = self._at
            return [Connected(channel_id=call.channel_id, at=call.connected_at)]
        return []

    def _on_group_dial_end(self, message: AmiMessage, caller: str) -> list[Fact]:
        """The first leg's own ``;2`` half ended a Dial: a ring group, and ANSWER says which member took it."""
        call = self._calls.get(self._channel_call.get(caller, ""))
        if call is None or message.get("DialStatus") != "ANSWER":
            return []
        if self._side(call, message.get("Channel") or call.names.get(caller, "")) != "first":
            return []
        member = message.get("DestChannel") or ""
        if not member.startswith("Local/"):
            return []  # in production [huibo-outbound]'s own Dial of the trunk
        return [GroupMemberAnswered(channel_id=call.channel_id, digits=_local_exten(member), at=self._at)]

    def _on_originate_response(self, message: AmiMessage) -> list[Fact]:
        """Asterisk's verdict on the first leg: Success (Reason 4) when it answered, else why not."""
        uniqueid = message.get("Uniqueid") or ""
        channel_id = uniqueid if uniqueid and uniqueid != "<unknown>" else None
        if channel_id is None:
            channel_id = self._channel_id_for_action(message.get("ActionID") or "")
        if channel_id is None:
            return []
        call = self._calls.get(channel_id)
        if call is None:
            if channel_id in self._ended:
                return []
            # Failed before any channel existed (driver not loaded, number missing): over at once.
            call = self._calls[channel_id] = _Call(channel_id=channel_id)
        if message.get("Response") == "Success":
            if call.first_disposition is Disposition.ANSWERED:
                return []  # already known from the dialplan's DialBegin
            call.first_disposition = Disposition.ANSWERED
            call.first_answered_at = self._at
            # Sent from another thread than the hangups: it can come after the last one, and then ends the call.
            return [FirstLegAnswered(channel_id=channel_id, at=call.first_answered_at), *self._end_if_over(call)]
        call.first_disposition = ORIGINATE_REASON_DISPOSITION.get(message.get("Reason") or "", Disposition.FAILED)
        return self._end_if_over(call)

    def _on_hangup(self, message: AmiMessage) -> list[Fact]:
        """A channel is gone. The ``;2`` halves carry the phones' real Q.850 causes."""
        uniqueid = message.get("Uniqueid") or ""
        call = self._calls.get(self._channel_call.get(uniqueid, ""))
        if call is None:
            return []
        call.live.discard(uniqueid)
        name = message.get("Channel") or call.names.get(uniqueid, "")
        try:
            cause = int(message.get("Cause") or 0)
        except ValueError:
            cause = 0
        side = self._side(call, name)
        if side and name.endswith(";2"):
            call.causes[side] = (cause, message.get("Cause-txt") or "", self._at)
            call.phone_hangup_order.append(side)
        return self._end_if_over(call)

    def _on_soft_hangup_request(self, message: AmiMessage) -> list[Fact]:
        """Asterisk asks a channel to hang up; its Cause is an internal flag, 4 meaning "shutting down"."""
        if message.get("Cause") == "4":
            call = self._calls.get(self._channel_call.get(message.get("Uniqueid") or "", ""))
            if call is not None:
                call.shutdown = True
        return []

    def _on_cdr(self, message: AmiMessage) -> list[Fact]:
        """Asterisk's CDR of one channel, keyed by its UniqueID; may come after the call's last Hangup."""
        uniqueid = message.get("UniqueID") or ""
        call = self._calls.get(self._channel_call.get(uniqueid, ""))
        if call is not None:
            call.cdrs.append(dict(message.fields))
            return []
        ended_call = self._ended.get(uniqueid)
        return [CdrReported(channel_id=ended_call, cdr=dict(message.fields))] if ended_call else []

    _HANDLERS: dict[str, Callable[["CallTracker", AmiMessage], list[Fact]]] = {
        "Newchannel": _on_newchannel,
        "DialBegin": _on_dial_begin,
        "DialEnd": _on_dial_end,
        "OriginateResponse": _on_originate_response,
        "Hangup": _on_hangup,
        "Cdr": _on_cdr,
        "SoftHangupRequest": _on_soft_hangup_request,
    }
    EVENTS = frozenset(_HANDLERS)

    # -- ending ----------------------------------------------------------------------------------

    @staticmethod
    def _side(call: _Call, channel_name: str) -> str | None:
        if call.first_prefix and channel_name.startswith(call.first_prefix):
            return "first"
        if call.second_prefix and channel_name.startswith(call.second_prefix):
            return "second"
        return None

    def _end_if_over(self, call: _Call) -> list[Fact]:
        if call.live:
            return []
        if call.first_disposition is None:
            self._awaiting_verdict.setdefault(call.channel_id, self._at)
            return []
        self._awaiting_verdict.pop(call.channel_id, None)
        del self._calls[call.channel_id]
        for uniqueid in (call.channel_id, *call.names):
            self._channel_call.pop(uniqueid, None)
            self._ended[uniqueid] = call.channel_id
        while len(self._ended) > _RECENTLY_ENDED:
            self._ended.pop(next(iter(self._ended)))
        return [self._report(call)]

    def _report(self, call: _Call) -> AttemptEnded:
        now = self._at
        first_hung_up = call.phone_hangup_order[0] if call.phone_hangup_order else None
        first_cause, first_text, first_end = call.causes.get("first", (None, "", now))
        first_disposition = call.first_disposition or Disposition.FAILED
        if first_disposition is not Disposition.ANSWERED and first_cause in CAUSE_DISPOSITION:
            first_disposition = CAUSE_DISPOSITION[first_cause]
        first = LegReport(
            disposition=first_disposition,
            cause=first_cause,
            cause_text=first_text,
            answered_at=call.first_answered_at,
            ended_at=first_end,
            hung_up_first=first_hung_up == "first" and call.connected_at is not None,
        )
        second = None
        if first_disposition is Disposition.ANSWERED:
            second_cause, second_text, second_end = call.causes.get("second", (None, "", now))
            if call.connected_at is not None:
                disposition = Disposition.ANSWERED
            elif not call.second_dialing:
                disposition = Disposition.NOT_DIALLED
            else:
                disposition = call.second_dial_status or Disposition.FAILED
                if second_cause in CAUSE_DISPOSITION and disposition is not Disposition.CANCELLED:
                    disposition = CAUSE_DISPOSITION[second_cause]
            second = LegReport(
                disposition=disposition,
                cause=second_cause,
                cause_text=second_text,
                answered_at=call.connected_at,
                ended_at=second_end,
                hung_up_first=first_hung_up == "second" and call.connected_at is not None,
            )
        return AttemptEnded(
            channel_id=call.channel_id,
            at=now,
            first=first,
            second=second,
            connected_at=call.connected_at,
            cdrs=tuple(call.cdrs),
            asterisk_shutdown=call.shutdown,
        )
