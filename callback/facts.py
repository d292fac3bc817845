"""What the AMI listener learned about one attempt, as plain frozen values.

The tracker (callback.tracker) produces these from Asterisk's events; the outcome services
(callback.services.outcomes) turn them into state. Neither side knows the other's internals.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Disposition(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    REJECTED = "rejected"
    UNALLOCATED = "unallocated"
    CANCELLED = "cancelled"  # the other side hung up while this leg was still ringing
    NOT_DIALLED = "not_dialled"  # the dialplan never dialled this leg (agent did not confirm, number not routable)
    FAILED = "failed"


@dataclass(frozen=True)
class LegReport:
    disposition: Disposition
    cause: int | None = None
    cause_text: str = ""
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    hung_up_first: bool = False


@dataclass(frozen=True)
class FirstLegAnswered:
    channel_id: str
    at: datetime


@dataclass(frozen=True)
class GroupMemberAnswered:
    """Simultaneous ring: the bound number whose phone answered first, as the digits Asterisk dialled."""

    channel_id: str
    digits: str
    at: datetime


@dataclass(frozen=True)
class SecondLegDialing:
    channel_id: str
    at: datetime


@dataclass(frozen=True)
class Connected:
    channel_id: str
    at: datetime


@dataclass(frozen=True)
class AttemptEnded:
    """Every channel of the attempt is gone and Asterisk has said how its Originate went."""

    channel_id: str
    at: datetime
    first: LegReport
    second: LegReport | None
    connected_at: datetime | None = None
    cdrs: tuple[dict[str, str], ...] = field(default=())
    # Asterisk hung the channels up because it was shutting down or restarting, not because a phone did.
    asterisk_shutdown: bool = False


@dataclass(frozen=True)
class CdrReported:
    """Asterisk's Cdr event for a channel of an attempt that had already ended when it arrived."""

    channel_id: str
    cdr: dict[str, str]


Fact = CdrReported | FirstLegAnswered | GroupMemberAnswered | SecondLegDialing | Connected | AttemptEnded
