"""Replaying a recorded interleaving of Asterisk's threads.

Asterisk builds AMI events on several threads at once (each channel's PBX thread, the originate thread,
the bridge, the CDR engine, the device-state thread), so events raised in the same millisecond reach the
client in an order that changes from run to run: transcripts 01, 14 and 16 record the same call with
DeviceStateChange, OriginateResponse and Cdr events in different places. The simulator's own order is
one fixed, causally valid interleaving. Given an :class:`Interleaving` built from a recording, it sorts
each burst of simultaneous events into the recorded order instead; it never moves an event to another
moment, adds or drops one. The fidelity tests use this to compare whole streams message by message.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TypeVar

from .protocol import Fields

# Fields that tell one event from another of the same name, whatever the run-specific ids.
_KEY_FIELDS = (
    "Channel",
    "DestChannel",
    "LocalOneChannel",
    "Variable",
    "Application",
    "Priority",
    "Context",
    "ChannelStateDesc",
    "DialStatus",
    "Device",
    "Cause",
    "Disposition",
    "Response",
    "Reason",
    "AccountID",
)

_COUNTER = re.compile(r"-([0-9a-f]{8})(;[12])?$")

Key = tuple[str, ...]
T = TypeVar("T")


class ChannelLabels:
    """Names Local channel instances by order of first appearance (``-0000000a`` -> ``#0``), so two streams
    whose counters differ still tell the agent's ``Local/1100@phones;2`` from the visitor's."""

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        def label(match: re.Match[str]) -> str:
            counter = match.group(1)
            if counter not in self._labels:
                self._labels[counter] = f"#{len(self._labels)}"
            return self._labels[counter] + (match.group(2) or "")

        return _COUNTER.sub(label, name)


def event_key(name: str, fields: Fields, labels: ChannelLabels) -> Key:
    values = dict(fields)
    key = [name]
    for field in _KEY_FIELDS:
        if name == "DeviceStateChange" and field != "Device":
            continue  # its State is worked out after ordering, see EventBus
        value = values.get(field)
        if value is None:
            continue
        if field.endswith("Channel"):
            value = labels(value)
        key.append(f"{field}={value}")
    return tuple(key)


class Interleaving:
    """The recorded order of a stream's events, looked up by (key, occurrence)."""

    def __init__(self, keys: Iterable[Key]) -> None:
        self._positions: dict[Key, list[int]] = {}
        for position, key in enumerate(keys):
            self._positions.setdefault(key, []).append(position)
        self._seen: Counter[Key] = Counter()
        self.labels = ChannelLabels()  # for the live stream being ordered

    @classmethod
    def from_messages(cls, messages: Iterable[Fields]) -> Interleaving:
        """Build from received messages (``(key, value)`` lists); responses and the banner are skipped."""
        keys: list[Key] = []
        labels = ChannelLabels()
        for fields in messages:
            if fields and fields[0][0] == "Event":
                rest = [f for f in fields[1:] if f[0] != "Privilege"]
                keys.append(event_key(fields[0][1], rest, labels))
        return cls(keys)

    def key(self, name: str, fields: Fields) -> Key:
        return event_key(name, fields, self.labels)

    def order(self, items: Sequence[T], keys: Sequence[Key]) -> list[T]:
        """Sort one burst. Unknown events stay right after the event generated before them."""
        ranked: list[tuple[float, int, T]] = []
        last = -1.0
        for index, (item, key) in enumerate(zip(items, keys, strict=True)):
            occurrence = self._seen[key]
            self._seen[key] += 1
            positions = self._positions.get(key, ())
            if occurrence < len(positions):
                rank = float(positions[occurrence])
                last = rank
            else:
                rank = last + (index + 1) * 1e-6
            ranked.append((rank, index, item))
        ranked.sort(key=lambda entry: (entry[0], entry[1]))
        return [item for _, _, item in ranked]
