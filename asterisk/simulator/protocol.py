"""AMI wire format, as Asterisk's manager.c writes and reads it.

Asterisk writes each message as ``Key: Value`` lines ending in CRLF and closes it with an empty CRLF line;
the banner is the one exception (a single line, no blank line after it). Clients may end lines with LF
only: manager.c accepts both, so the reader here does too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

BANNER = b"Asterisk Call Manager/11.0.0\r\n"

Fields = list[tuple[str, str]]


def encode(fields: Iterable[tuple[str, str]]) -> bytes:
    """One AMI message: ``Key: Value\\r\\n`` per field and the closing ``\\r\\n``."""
    text = "\r\n".join(map(": ".join, fields))  # the quickest way there: every event goes through it
    return (text + "\r\n\r\n").encode() if text else b"\r\n"


@dataclass
class Action:
    """An action the client sent. Header names are matched case-insensitively, as manager.c does."""

    headers: Fields = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.get("Action")

    @property
    def action_id(self) -> str | None:
        """None when the action had no ActionID header (then replies carry none either)."""
        for name, value in self.headers:
            if name.lower() == "actionid":
                return value
        return None

    def get(self, key: str, default: str = "") -> str:
        lowered = key.lower()
        for name, value in self.headers:
            if name.lower() == lowered:
                return value
        return default

    def get_all(self, key: str) -> list[str]:
        lowered = key.lower()
        return [value for name, value in self.headers if name.lower() == lowered]


class ActionReader:
    """Splits a client's byte stream into actions (a blank line ends each one)."""

    # manager.c reads lines of at most 1024 bytes and drops the session when one is longer; be as strict
    # about runaway input (a partial line this long is not an AMI client).
    MAX_LINE = 8 * 1024

    def __init__(self) -> None:
        self._buffer = b""
        self._headers: Fields = []

    def feed(self, data: bytes) -> Iterator[Action]:
        self._buffer += data
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > self.MAX_LINE:
                    raise ValueError("AMI input line too long")
                return
            raw, self._buffer = self._buffer[:newline], self._buffer[newline + 1 :]
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if line == "":
                if self._headers:
                    headers, self._headers = self._headers, []
                    yield Action(headers=headers)
                continue
            key, sep, value = line.partition(":")
            if not sep:
                continue  # manager.c ignores lines without a colon
            self._headers.append((key.strip(), value.lstrip(" ")))


def response(kind: str, action_id: str | None, message: str | None = None, extra: Fields | None = None) -> bytes:
    """``Response: <kind>``, then ``ActionID`` when the action had one, then ``Message`` (astman_send_response_full)."""
    fields: Fields = [("Response", kind)]
    if action_id is not None:
        fields.append(("ActionID", action_id))
    if message is not None:
        fields.append(("Message", message))
    fields.extend(extra or [])
    return encode(fields)
