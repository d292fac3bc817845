"""Originate, as manager.c's action_originate hands it to the outgoing thread (fast_originate,
pbx_outgoing.c): request the first leg, wait for it to answer, report OriginateResponse, then start its
dialplan (or run the one application it was given).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .apps import AppThread, PbxThread
from .channels import UNKNOWN, Channel
from .clock import Timer
from .protocol import Action, Fields

if TYPE_CHECKING:
    from .pbx import Pbx

log = logging.getLogger(__name__)


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
                log.error(
                    "Channel Unique ID '%s' already in use by channel %s(%#x)", wanted, conflict.name, id(conflict)
                )
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
        pbx.emit("DialBegin", [*pbx.snap(chan, "Dest"), ("DialString", resource)])
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
        # the answered channel's own thread runs it, after what the answering thread does next
        pbx.defer(thread.run)

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


# -- the action -------------------------------------------------------------------------------------


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
