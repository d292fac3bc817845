"""One AMI message (event or response) as a small frozen value.

Built only by the parser (``callback.ami.parser``). ``fields`` holds the first value of every key, in wire order;
keys that legitimately repeat (``ChanVariable``, ``Variable``, ``Output`` lines of a Command response) keep all
their values, in order, in ``multi``. Both mappings are read-only views, so a message can be handed to another
thread or queued as is. Messages compare by value and are not hashable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

MessageKind = Literal["event", "response"]

EMPTY_MULTI: Mapping[str, tuple[str, ...]] = MappingProxyType({})

# Asterisk's "good" response values: Goodbye answers Logoff, Follows is the pre-13 Command reply.
SUCCESS_RESPONSES = frozenset({"Success", "Follows", "Goodbye"})


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """An AMI event (``kind='event'``, ``name`` = ``Event:``) or response (``name`` = ``Response:`` value)."""

    kind: MessageKind
    name: str
    fields: Mapping[str, str]
    multi: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: EMPTY_MULTI)

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of ``key``; exact match first, then case-insensitive (Asterisk spells ``Uniqueid`` and
        ``UniqueID`` in different events)."""
        value = self.fields.get(key)
        if value is not None:
            return value
        lowered = key.lower()
        for name, candidate in self.fields.items():
            if name.lower() == lowered:
                return candidate
        return default

    def getall(self, key: str) -> tuple[str, ...]:
        """Every value of ``key`` in wire order (empty when absent)."""
        values = self.multi.get(key)
        if values is not None:
            return values
        value = self.fields.get(key)
        return () if value is None else (value,)

    @property
    def is_event(self) -> bool:
        return self.kind == "event"

    @property
    def is_response(self) -> bool:
        return self.kind == "response"

    @property
    def success(self) -> bool:
        """True for ``Response: Success`` (and ``Follows``/``Goodbye``); False for errors and for events."""
        return self.kind == "response" and self.name in SUCCESS_RESPONSES

    @property
    def action_id(self) -> str | None:
        return self.fields.get("ActionID")

    @property
    def message(self) -> str | None:
        """The ``Message:`` field (the human text of a response)."""
        return self.fields.get("Message")

    def chan_variables(self) -> dict[str, str]:
        """``ChanVariable: NAME=value`` lines as a dict.

        Asterisk writes the key as ``ChanVariable`` on channel events and as ``ChanVariable(<channel>)`` on
        OriginateResponse (see transcript 14); both are read. A variable set to nothing reads as ``""``.
        """
        result: dict[str, str] = {}
        for key in self.fields:
            if key == "ChanVariable" or key.startswith("ChanVariable("):
                for item in self.getall(key):
                    name, _, value = item.partition("=")
                    result[name] = value
        return result
