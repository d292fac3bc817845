"""Call detail records, as cdr.c builds them and cdr_manager.c sends them (``Event: Cdr``).

One record per *party A*: the originated ``;1``, each ``;2`` that runs dialplan; the ``;1`` that Dial()
called is party B of its caller's record (its name is the caller's ``DestinationChannel``) and gets no record
of its own. Times are whole seconds, local time; Duration and BillableSeconds are truncated seconds.
The configuration matches recording-config/cdr.conf: ``unanswered=yes``, ``congestion=yes``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .channels import Channel
from .protocol import Fields

_DIAL_STATUS_DISPOSITION = {
    "ANSWER": "ANSWERED",
    "BUSY": "BUSY",
    "CONGESTION": "CONGESTION",
    "NOANSWER": "NO ANSWER",
    "CANCEL": "NO ANSWER",
    "CHANUNAVAIL": "FAILED",
}


def disposition_for_cause(cause: int) -> str:
    """What an unanswered record says, from the channel's hangup cause (cdr_object_set_disposition)."""
    if cause == 17:
        return "BUSY"
    if cause == 34:
        return "CONGESTION"
    if cause in (0, 3, 20):
        return "FAILED"
    return "NO ANSWER"


@dataclass
class CdrRecord:
    channel: Channel
    start: float
    answer: float | None = None
    end: float | None = None
    destination_channel: str = ""
    dial_status: str | None = None
    # When set, the record no longer follows the channel's applications (see Pbx._dial_failed_early).
    last_app: tuple[str, str] | None = None
    context: str | None = None
    exten: str | None = None

    def finish(self, now: float) -> None:
        if self.end is None:
            self.end = now
            self.context = self.channel.context
            self.exten = self.channel.exten
            if self.last_app is None:
                self.last_app = (self.channel.app, self.channel.app_data)

    def disposition(self) -> str:
        if self.dial_status is not None:
            return _DIAL_STATUS_DISPOSITION.get(self.dial_status, "FAILED")
        if self.answer is not None:
            return "ANSWERED"
        return disposition_for_cause(self.channel.hangup_cause)

    def fields(self, wall_start: float) -> Fields:
        assert self.end is not None and self.last_app is not None
        chan = self.channel
        duration = _seconds(self.end - self.start)
        billable = _seconds(self.end - self.answer) if self.answer is not None else 0
        return [
            ("AccountCode", ""),
            ("Source", chan.cid_num),
            ("Destination", self.exten or ""),
            ("DestinationContext", self.context or ""),
            ("CallerID", callerid_merge(chan.cid_name, chan.cid_num)),
            ("Channel", chan.name),
            ("DestinationChannel", self.destination_channel),
            ("LastApplication", self.last_app[0]),
            ("LastData", self.last_app[1]),
            ("StartTime", _local(wall_start + self.start)),
            ("AnswerTime", _local(wall_start + self.answer) if self.answer is not None else ""),
            ("EndTime", _local(wall_start + self.end)),
            ("Duration", str(duration)),
            ("BillableSeconds", str(billable)),
            ("Disposition", self.disposition()),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", chan.uniqueid),
            ("UserField", ""),
        ]


def callerid_merge(name: str, num: str) -> str:
    """ast_callerid_merge(): ``"name" <num>``, or whichever of the two is set."""
    if name and num:
        return f'"{name}" <{num}>'
    return name or num


def _seconds(delta: float) -> int:
    # Whole seconds, truncated. The epsilon keeps 10.0 s from becoming 9 through float arithmetic.
    return max(0, math.floor(delta + 1e-6))


def _local(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))
