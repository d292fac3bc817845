"""Rendering AMI actions, and the Originate request Huibo sends.

``encode_action`` writes an action the way panoramisk's ``Action.__str__`` does (a list value becomes one line per
item, e.g. ``Variable: A=1`` then ``Variable: B=2``) but keeps the caller's key order and refuses CR, LF or NUL
anywhere: one stray line break in a value would let the text after it become a header of its own (or end the
action and start a second one). Nothing user-typed may inject AMI lines.

``OriginateRequest`` is validated when built, so an invalid one never exists. It always renders ``Async: true``: a
synchronous Originate blocks Asterisk's manager session until the far end answers, and its reply would arrive
long after any sane action timeout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

ActionValue: TypeAlias = str | int | Sequence[str]
Action: TypeAlias = Mapping[str, ActionValue]

_FORBIDDEN = re.compile(r"[\r\n\x00]")
_HEADER_NAME = re.compile(r"[A-Za-z0-9_()./-]+")
VARIABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# Asterisk splits each "Variable:" header with its application-argument parser (ast_app_separate_args): a comma
# starts another NAME=value, quotes and backslashes are removed, brackets and parentheses change the splitting.
# A value holding any of them could smuggle in a second variable, so they are refused rather than escaped.
_VARIABLE_VALUE_FORBIDDEN = re.compile(r'[\r\n\x00,"\\()\[\]]')


def _check_text(what: str, value: str) -> None:
    if _FORBIDDEN.search(value):
        raise ValueError(f"{what} must not contain CR, LF or NUL: {value!r}")


def encode_action(action: Action) -> bytes:
    """Render ``action`` as AMI bytes (``Key: value`` CRLF lines, then an empty line).

    Raises ValueError for an empty action, a bad header name or any CR/LF/NUL in a value; nothing is rendered then.
    """
    if not action:
        raise ValueError("empty AMI action")
    lines: list[str] = []
    for key, value in action.items():
        if not _HEADER_NAME.fullmatch(key):
            raise ValueError(f"invalid AMI header name: {key!r}")
        if isinstance(value, str):
            items: Sequence[str] = (value,)
        elif isinstance(value, bool):
            raise ValueError(f"AMI header {key} needs a string, not a bool")
        elif isinstance(value, int):
            items = (str(value),)
        else:
            items = value
        for item in items:
            if not isinstance(item, str):
                raise ValueError(f"AMI header {key} needs strings, got {item!r}")
            _check_text(f"AMI header {key}", item)
            lines.append(f"{key}: {item}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")


@dataclass(frozen=True, kw_only=True)
class OriginateRequest:
    """An asynchronous Originate, with its idempotency keys fixed by the caller.

    ``action_id`` correlates the ``OriginateResponse`` event; ``channel_id`` / ``other_channel_id`` become the
    Uniqueids of the first leg's ``;1`` / ``;2`` halves (and the Linkedid of the whole call). A real Asterisk
    refuses a second Originate whose ChannelId is still live, so storing them before sending makes a duplicate
    Originate harmless and lets a caller reconcile after ``OriginateOutcomeUnknown``.
    """

    action_id: str
    channel: str
    context: str
    exten: str
    priority: int = 1
    timeout_ms: int = 30_000
    caller_id: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    channel_id: str | None = None
    other_channel_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("action_id", "channel", "context", "exten"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"OriginateRequest.{name} must be a non-empty string")
            _check_text(f"OriginateRequest.{name}", value)
        for name in ("caller_id", "channel_id", "other_channel_id"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, str) or not value:
                    raise ValueError(f"OriginateRequest.{name} must be None or a non-empty string")
                _check_text(f"OriginateRequest.{name}", value)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int) or self.priority < 1:
            raise ValueError("OriginateRequest.priority must be an int >= 1")
        if isinstance(self.timeout_ms, bool) or not isinstance(self.timeout_ms, int) or self.timeout_ms < 1:
            raise ValueError("OriginateRequest.timeout_ms must be an int >= 1")
        frozen: dict[str, str] = {}
        for name, value in self.variables.items():
            if not isinstance(name, str) or not VARIABLE_NAME.fullmatch(name):
                raise ValueError(f"channel variable name must match [A-Z_][A-Z0-9_]*: {name!r}")
            if not isinstance(value, str) or _VARIABLE_VALUE_FORBIDDEN.search(value):
                raise ValueError(f'channel variable {name} must be a string without CR, LF, NUL, , " \\ ( ) [ ]')
            frozen[name] = value
        # A private copy: a caller mutating its dict later must not change what was validated.
        object.__setattr__(self, "variables", MappingProxyType(frozen))

    def as_action(self) -> dict[str, str | list[str]]:
        """The AMI action; ``Variable`` is a list (one ``Variable: NAME=value`` line each, as panoramisk renders)."""
        action: dict[str, str | list[str]] = {
            "Action": "Originate",
            "ActionID": self.action_id,
            "Channel": self.channel,
            "Context": self.context,
            "Exten": self.exten,
            "Priority": str(self.priority),
            "Timeout": str(self.timeout_ms),
        }
        if self.caller_id is not None:
            action["CallerID"] = self.caller_id
        if self.variables:
            action["Variable"] = [f"{name}={value}" for name, value in self.variables.items()]
        if self.channel_id is not None:
            action["ChannelId"] = self.channel_id
        if self.other_channel_id is not None:
            action["OtherChannelId"] = self.other_channel_id
        action["Async"] = "true"
        return action
