"""Event distribution, as manager.c fans events out to every logged-in session.

Events are collected per *burst* (everything one timer or action makes happen at one simulated instant)
and written together, after an optional :class:`~.interleaving.Interleaving` has ordered them.
``DeviceStateChange`` is special: in Asterisk the device-state thread works the state of
``Local/<exten>@<context>`` out when it gets round to it, so the simulator does the same at the moment the
event is written: INUSE while some Local pair for that device is still up, NOT_INUSE once the first half
of the last pair has hung up, INVALID when the extension does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from .channels import LocalPair
from .interleaving import Interleaving
from .protocol import Fields, encode

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    def reads(self, event_class: str) -> bool: ...

    def deliver(self, events: Sequence[tuple[str, bytes]]) -> None:
        """The encoded events of one burst, each with its event class, in order."""


@dataclass
class Event:
    name: str
    privilege: str
    fields: Fields
    device: str | None = None
    device_invalid: bool = False
    opens: LocalPair | None = None
    closes: LocalPair | None = None

    @property
    def event_class(self) -> str:
        return self.privilege.split(",", 1)[0]


@dataclass
class EventBus:
    interleaving: Interleaving | None = None
    subscribers: Sequence[Subscriber] = field(default_factory=list)
    _burst: list[Event] | None = None
    _depth: int = 0
    _open_pairs: dict[str, set[int]] = field(default_factory=dict)
    _read_in_burst: dict[str, bool] = field(default_factory=dict)  # delivers(), per event class
    history: list[Event] | None = None  # when a list, every written event is appended (tests)

    def emit(self, event: Event) -> None:
        if self._burst is None:
            self._write([event])
        else:
            self._burst.append(event)

    @contextmanager
    def burst(self) -> Iterator[None]:
        """Collect the events of one simulated instant; nested bursts join the outer one."""
        if self._depth == 0:
            self._burst = []
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                events, self._burst = self._burst or [], None
                self._read_in_burst.clear()
                if events:
                    self._write(events)

    def delivers(self, event_class: str) -> bool:
        """Whether an event of this class would be seen at all: by a session, the history or an interleaving."""
        if self.history is not None or self.interleaving is not None:
            return True
        read = self._read_in_burst.get(event_class)
        if read is None:
            read = any(subscriber.reads(event_class) for subscriber in self.subscribers)
            if self._depth:
                # no session logs in, changes its event mask or goes away during a burst (it never yields to
                # the loop): ask them once per class and burst
                self._read_in_burst[event_class] = read
        return read

    def reset_devices(self) -> None:
        self._open_pairs.clear()

    def _write(self, events: list[Event]) -> None:
        if self.interleaving is not None:
            interleaving = self.interleaving
            keys = [interleaving.key(e.name, e.fields if e.device is None else [("Device", e.device)]) for e in events]
            events = interleaving.order(events, keys)
        encoded: list[tuple[str, bytes]] = []
        for event in events:
            if event.opens is not None:
                self._open_pairs.setdefault(event.opens.device, set()).add(event.opens.number)
            if event.closes is not None:
                self._open_pairs.get(event.closes.device, set()).discard(event.closes.number)
            fields = event.fields
            if event.device is not None:
                if event.device_invalid:
                    state = "INVALID"
                elif self._open_pairs.get(event.device):
                    state = "INUSE"
                else:
                    state = "NOT_INUSE"
                fields = [("Device", event.device), ("State", state)]
                event.fields = fields
            if self.history is not None:
                self.history.append(event)
            data = encode([("Event", event.name), ("Privilege", event.privilege), *fields])
            encoded.append((event.event_class, data))
        # a burst at a time: one socket write per session for all of it, not one per event
        for subscriber in list(self.subscribers):
            subscriber.deliver(encoded)
