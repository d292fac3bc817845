"""Byte-safe, incremental AMI parser (hazards 5 and 6 in RELIABILITY.md).

Lifecycle of a stream: the first line is the banner (``Asterisk Call Manager/11.0.0``), one line with no blank line
after it; every later message is ``Key: value`` lines ended by CRLF CRLF. ``AmiParser.feed`` buffers raw bytes and
only decodes *complete* messages, so a multi-byte UTF-8 character split across two TCP reads is never lost
(panoramisk decodes each read with ``errors='ignore'``: ``Привет`` became ``Пивет``). CRLF CRLF is pure ASCII and
UTF-8 continuation bytes never are, so cutting the buffer there can never cut a character.

A malformed message (a repeated ``Event``/``Response``/``ActionID`` header, a line without a colon, neither
``Event`` nor ``Response``) is logged as ``ami.parse.malformed`` and skipped; parsing goes on with the next message
(panoramisk raised inside ``data_received`` and asyncio closed the link). Keys that legitimately repeat are kept in
``AmiMessage.multi``.

Throughput matters (R6: 25,000 messages/s peak from one Asterisk): the common path is one ``bytes.decode`` per
TCP read, ``str.split`` and ``str.partition``. ``benchmark_parser`` measures it; ``parse_messages`` is the pure
entry point for bench/.
"""

from __future__ import annotations

import logging
import time
from types import MappingProxyType

from ._log import log_event
from .message import EMPTY_MULTI, AmiMessage

SEPARATOR = b"\r\n\r\n"
_TEXT_SEPARATOR = "\r\n\r\n"
# Headers that identify a message or route a reply: seeing one twice makes the message ambiguous, not just odd.
_UNIQUE_KEYS = ("Event", "Response", "ActionID")
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class _Malformed(Exception):
    """Internal: why a message was skipped."""


class AmiParser:
    """Incremental parser for one connection: ``feed(bytes) -> list[AmiMessage]``.

    Never raises on bad input. ``banner`` holds the banner line once seen; ``malformed_count`` and
    ``invalid_utf8_count`` count what was skipped or repaired. A message growing past ``max_message_bytes`` without
    its terminator is dropped (logged ``ami.parse.oversized``) and parsing resumes after its end, so a broken peer
    cannot make the buffer grow without bound.
    """

    __slots__ = ("_buf", "_banner_pending", "_discarding", "_max", "banner", "malformed_count", "invalid_utf8_count")

    def __init__(self, *, expect_banner: bool = True, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._buf = bytearray()
        self._banner_pending = expect_banner
        self._discarding = False
        self._max = max_message_bytes
        self.banner: str | None = None
        self.malformed_count = 0
        self.invalid_utf8_count = 0

    @property
    def buffered(self) -> bytes:
        """Bytes received but not yet forming a complete message."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[AmiMessage]:
        buf = self._buf
        # Only the new bytes (plus 3 for a terminator straddling two reads) can hold a terminator: everything older
        # was already searched. Keeps a large message arriving in small reads linear, not quadratic.
        search_from = max(len(buf) - 3, 0)
        buf += data
        if self._banner_pending:
            if not self._take_banner():
                return []
            search_from = 0
        if self._discarding:
            cut = buf.find(SEPARATOR, search_from)
            if cut < 0:
                del buf[:-3]
                return []
            del buf[: cut + 4]
            self._discarding = False
            search_from = 0
        end = buf.rfind(SEPARATOR, search_from)
        if end < 0:
            if len(buf) > self._max:
                log_event(logging.WARNING, "ami.parse.oversized", buffered=len(buf), limit=self._max)
                self.malformed_count += 1
                self._discarding = True
                del buf[:-3]
            return []
        chunk = bytes(buf[:end])
        del buf[: end + 4]
        return self._parse_chunk(chunk)

    def _take_banner(self) -> bool:
        """Consume the banner line if complete; False while more bytes are needed."""
        buf = self._buf
        eol = buf.find(b"\r\n")
        if eol < 0:
            if len(buf) > self._max:
                self._banner_pending = False  # not a banner after all: let the normal path deal with it
                return True
            return False
        self._banner_pending = False
        first = bytes(buf[:eol])
        # A banner has no colon; a stream that starts straight with "Event: ..." (a proxy, a test) has no banner.
        if b":" not in first:
            self.banner = first.decode("utf-8", "replace")
            del buf[: eol + 2]
        return True

    def _parse_chunk(self, chunk: bytes) -> list[AmiMessage]:
        try:
            texts = chunk.decode("utf-8").split(_TEXT_SEPARATOR)
        except UnicodeDecodeError:
            texts = [self._decode_one(raw) for raw in chunk.split(SEPARATOR)]
        out: list[AmiMessage] = []
        append = out.append
        for text in texts:
            try:
                message = _parse_text(text)
            except _Malformed as exc:
                self.malformed_count += 1
                log_event(logging.WARNING, "ami.parse.malformed", reason=exc, head=repr(text[:120]))
                continue
            if message is not None:
                append(message)
        return out

    def _decode_one(self, raw: bytes) -> str:
        # Only a message holding truly invalid UTF-8 gets replacement characters; its neighbours decode strictly.
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.invalid_utf8_count += 1
            log_event(logging.WARNING, "ami.parse.invalid_utf8", position=exc.start, head=repr(raw[:120]))
            return raw.decode("utf-8", "replace")


def _parse_text(text: str) -> AmiMessage | None:
    """Parse one message without its terminator; None for an empty one (stray CRLFs)."""
    if text.startswith("\r\n"):
        # Tolerate a stray blank line between messages (panoramisk notes Asterisk sometimes sends one).
        text = text.lstrip("\r\n")
        if not text:
            return None
    elif not text:
        return None
    fields: dict[str, str] = {}
    multi: dict[str, list[str]] | None = None
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep:
                if fields.get("Response") == "Follows":
                    # Pre-13 Command output: raw body lines, kept as Output like Asterisk 13+ sends them.
                    key, value = "Output", line
                else:
                    raise _Malformed(f"line without colon: {line[:60]!r}")
        if not key:
            raise _Malformed("empty header name")
        if key in fields:
            if multi is None:
                multi = {}
            values = multi.get(key)
            if values is None:
                multi[key] = [fields[key], value]
            else:
                values.append(value)
        else:
            fields[key] = value
    multi_view = EMPTY_MULTI
    if multi is not None:
        for key in _UNIQUE_KEYS:
            if key in multi:
                raise _Malformed(f"repeated {key} header")
        multi_view = MappingProxyType({key: tuple(values) for key, values in multi.items()})
    name = fields.get("Event")
    if name is not None:
        # OriginateResponse carries both Event and "Response: Success|Failure": Event wins, it is an event.
        if not name:
            raise _Malformed("empty Event")
        return AmiMessage("event", name, MappingProxyType(fields), multi_view)
    name = fields.get("Response")
    if not name:
        raise _Malformed("neither Event nor Response")
    return AmiMessage("response", name, MappingProxyType(fields), multi_view)


def parse_messages(buffer: bytes, *, expect_banner: bool = True) -> tuple[list[AmiMessage], bytes]:
    """Parse every complete message in ``buffer``; return them and the incomplete rest.

    Pure and stateless (a fresh parser each call): the function bench/ times. A leading banner line is skipped.
    """
    parser = AmiParser(expect_banner=expect_banner)
    messages = parser.feed(buffer)
    return messages, parser.buffered


def benchmark_parser(stream: bytes, *, chunk_size: int = 65536, min_seconds: float = 1.0) -> float:
    """Messages per second parsing ``stream`` fed in ``chunk_size`` reads (asyncio reads up to 256 KiB).

    Example, on one core::

        data = Path("/work/shared/asterisk/transcripts/01-...ami.raw").read_bytes()
        benchmark_parser(data * 50)
    """
    chunks = [stream[i : i + chunk_size] for i in range(0, len(stream), chunk_size)]
    count = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < min_seconds:
        parser = AmiParser()
        for chunk in chunks:
            count += len(parser.feed(chunk))
        elapsed = time.perf_counter() - started
    return count / elapsed
