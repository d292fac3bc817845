"""Event fan-out (bus.py): each session gets the events of its classes, and an event nobody reads is not even
built (production's AMI user reads no dialplan events), which must change nothing in what the others see."""

from __future__ import annotations

import re
from collections.abc import Sequence

from asterisk.simulator.bus import EventBus
from asterisk.simulator.clock import Clock
from asterisk.simulator.originate import Originate, build_originate
from asterisk.simulator.pbx import Pbx
from asterisk.simulator.protocol import Action
from asterisk.simulator.users import ALL_CLASSES, PRODUCTION_READ


class _Reader:
    def __init__(self, classes: frozenset[str]) -> None:
        self.classes = classes
        self.messages: list[bytes] = []

    def reads(self, event_class: str) -> bool:
        return event_class in self.classes

    def deliver(self, events: Sequence[tuple[str, bytes]]) -> None:
        self.messages += [data for event_class, data in events if self.reads(event_class)]


def _callback_as_read_by(classes: frozenset[str]) -> list[bytes]:
    """A whole callback on a manual clock, as the only session, reading ``classes``, sees it: the enterprise
    answers after 1 s, the visitor after 1 s more and talks 5 s. The bridge id is the one random field."""
    clock = Clock(manual=True)
    clock.wall_start = 1795300000.0
    bus = EventBus()
    reader = _Reader(classes)
    bus.subscribers = [reader]
    pbx = Pbx(clock, bus)
    clock.step = pbx.step
    request, error = build_originate(
        Action(
            [
                ("Action", "Originate"),
                ("Channel", "Local/8613800001100@huibo-outbound/n"),
                ("Context", "huibo-callback"),
                ("Exten", "8613900001005"),
                ("Variable", "HUIBO_ATTEMPT=42"),
                ("Variable", "HUIBO_DIAL_TIMEOUT=20"),
                ("Async", "true"),
            ]
        )
    )
    assert request is not None, error
    clock.call_at(0.0, Originate(pbx, request).start)
    clock.advance_to(60.0)
    return [re.sub(rb"BridgeUniqueid: [^\r]+", b"BridgeUniqueid: <bridge>", m) for m in reader.messages]


def _event_class(message: bytes) -> str:
    privilege = re.search(rb"\r\nPrivilege: ([a-z]+)", message)
    assert privilege is not None
    return privilege.group(1).decode()


def test_a_session_reading_production_classes_sees_exactly_the_events_of_a_session_reading_all_of_those() -> None:
    # given: the same callback, once read by a session reading every class
    everything = _callback_as_read_by(ALL_CLASSES)
    # when: it is read by production's AMI user alone, so the dialplan events are never built
    production = _callback_as_read_by(PRODUCTION_READ)
    # then
    assert {_event_class(m) for m in everything} == {"call", "dialplan", "cdr"}
    assert production == [m for m in everything if _event_class(m) in PRODUCTION_READ]
