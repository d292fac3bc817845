"""Channels as Asterisk's channel core and its Local channel driver (core_local.c) present them over AMI.

A Local channel is a pair: ``Local/<exten>@<context>-<8 hex>;1`` (the side whoever dialled it talks to) and
``;2`` (the side that runs the dialplan at exten@context). Every channel event carries the channel's
snapshot: the same 14 fields in the same order, then one ``ChanVariable`` line per variable listed in
manager.conf's ``channelvars``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .protocol import Fields

# ast_state2str() names, by ChannelState number.
STATE_DOWN = 0
STATE_RING = 4
STATE_RINGING = 5
STATE_UP = 6
STATE_BUSY = 7
STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}

# Q.850 causes as ast_cause2str() spells them (the subset Huibo can meet, and what the recordings show).
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    22: "Number changed",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    127: "Interworking, unspecified",
}

UNKNOWN = "<unknown>"


def cause_text(cause: int) -> str:
    return CAUSE_TEXT.get(cause, "Unknown")


@dataclass
class Variable:
    """A channel variable. ``inherit`` is 0, 1 (``_X``: one level) or 2 (``__X``: every level)."""

    value: str
    inherit: int = 0

    def set_name(self, name: str) -> str:
        return "_" * self.inherit + name


@dataclass
class Channel:
    """The state the AMI snapshot shows, plus what the simulator needs to drive the call."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int
    created_at: float
    priority: int = 1
    cid_num: str = ""
    cid_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    variables: dict[str, Variable] = field(default_factory=dict)
    app: str = ""
    app_data: str = ""
    hangup_cause: int = 0
    answered_at: float | None = None
    alive: bool = True
    pair: LocalPair | None = None
    # The snapshot a VarSet reuses until the channel publishes a fresh one: stasis caches the latest
    # snapshot, and the recordings show variables copied onto a brand-new channel reported with the
    # snapshot of its Newchannel (ChanVariable still empty).
    cached_snapshot: Fields | None = None
    # Set when the last party of a bridge or dial has to know this channel went away.
    hangup_requested: bool = False
    # MixMonitor ran on this channel: its bridged call is recorded (Pbx.maybe_record).
    mixmonitor: bool = False

    @property
    def half(self) -> int:
        return 2 if self.name.endswith(";2") else 1

    @property
    def peer(self) -> Channel | None:
        """The other half of a Local pair."""
        if self.pair is None:
            return None
        return self.pair.two if self is self.pair.one else self.pair.one

    def getvar(self, name: str) -> str:
        var = self.variables.get(name.lstrip("_"))
        return var.value if var else ""

    def setvar(self, name: str, value: str, at_tail: bool = False) -> None:
        """pbx_builtin_setvar_helper() puts a variable at the head of the channel's list;
        ast_channel_inherit_variables() appends. The order decides how Local copies them to ;2."""
        stripped = name.lstrip("_")
        var = Variable(value=value, inherit=min(2, len(name) - len(stripped)))
        self.variables.pop(stripped, None)
        if at_tail:
            self.variables[stripped] = var
        else:
            self.variables = {stripped: var, **self.variables}

    def inheritable(self) -> list[tuple[str, Variable]]:
        """Variables a channel this one dials gets (``_X`` loses a level, ``__X`` keeps it)."""
        out: list[tuple[str, Variable]] = []
        for name, var in self.variables.items():
            if var.inherit == 2:
                out.append((name, Variable(var.value, 2)))
            elif var.inherit == 1:
                out.append((name, Variable(var.value, 0)))
        return out


@dataclass
class LocalPair:
    """One Local channel instance (a ``local_pvt``): both halves and where ``;2`` runs."""

    number: int
    exten: str
    context: str
    one: Channel
    two: Channel

    @property
    def device(self) -> str:
        return f"Local/{self.exten}@{self.context}"


_SNAPSHOT_KEYS = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)


@functools.cache
def _snapshot_keys(prefix: str) -> tuple[tuple[str, ...], str]:
    return tuple(prefix + key for key in _SNAPSHOT_KEYS), prefix + "ChanVariable"


def snapshot(chan: Channel, channelvars: list[str], prefix: str = "") -> Fields:
    """The channel fields of a channel event (manager_build_channel_state_string), with an optional prefix."""
    keys, chan_variable = _snapshot_keys(prefix)
    values = (
        chan.name,
        str(chan.state),
        STATE_DESC.get(chan.state, "Unknown"),
        chan.cid_num or UNKNOWN,
        chan.cid_name or UNKNOWN,
        chan.connected_num or UNKNOWN,
        chan.connected_name or UNKNOWN,
        "en",
        "",
        chan.context,
        chan.exten,
        str(chan.priority),
        chan.uniqueid,
        chan.linkedid,
    )
    fields = list(zip(keys, values, strict=True))
    fields += [(chan_variable, f"{var}={chan.getvar(var)}") for var in channelvars]
    return fields
