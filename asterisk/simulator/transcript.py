"""Reader for the recorded AMI transcripts (``NN-name.ami.txt``) of a real Asterisk 22.

The recorder wrote two kinds of lines: annotations, which start with ``#`` and end in LF, and the raw
byte stream received from Asterisk (CRLF line ends), which is everything else. ``# +<t>`` precedes each
received message, ``# >>> +<t> SENT on conn N:`` opens a block of ``# > `` lines the recorder wrote,
and ``# --- connection N: ...`` lines mark connects and EOFs. This module turns that into typed items so
that the replay server can stream the bytes back and the fidelity tests can read the actions sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_RECEIVED = re.compile(r"^# \+(?P<t>\d+\.\d+)(?: conn=(?P<conn>\d+))?$")
_SENT = re.compile(r"^# >>> \+(?P<t>\d+\.\d+) SENT on conn (?P<conn>\d+):$")
_CONNECTED = re.compile(r"^# --- connection (?P<conn>\d+): TCP connected to \S+ at \+(?P<t>\d+\.\d+)$")
_EOF = re.compile(r"^# --- connection (?P<conn>\d+): EOF .* at \+(?P<t>\d+\.\d+)$")
_RAN = re.compile(r"^# --- \+(?P<t>\d+\.\d+) ran: (?P<what>.*)$")


@dataclass(frozen=True)
class Received:
    """One message as Asterisk sent it: raw bytes (CRLF kept), arrival time since the first connect."""

    conn: int
    t: float
    raw: bytes

    def fields(self) -> list[tuple[str, str]]:
        """The message's ``Key: Value`` lines, in order (the banner gives ``[]``)."""
        return parse_fields(self.raw)


@dataclass(frozen=True)
class Sent:
    """An action the recorder wrote, as its ``Key: Value`` lines."""

    conn: int
    t: float
    fields: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        for name, value in self.fields:
            if name.lower() == key.lower():
                return value
        return default


@dataclass(frozen=True)
class Connected:
    conn: int
    t: float


@dataclass(frozen=True)
class Closed:
    """The connection reached EOF (Asterisk closed it)."""

    conn: int
    t: float


@dataclass(frozen=True)
class Ran:
    """Something done outside AMI during the recording (e.g. ``asterisk -rx 'core restart now'``)."""

    t: float
    what: str


Item = Received | Sent | Connected | Closed | Ran


@dataclass
class Transcript:
    """A parsed ``.ami.txt``: its title line and the items in recorded order."""

    path: Path
    title: str
    items: list[Item] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(".ami.txt")

    def received(self, conn: int | None = None) -> list[Received]:
        return [i for i in self.items if isinstance(i, Received) and (conn is None or i.conn == conn)]

    def sent(self, conn: int | None = None) -> list[Sent]:
        return [i for i in self.items if isinstance(i, Sent) and (conn is None or i.conn == conn)]

    def connections(self) -> list[int]:
        return sorted({i.conn for i in self.items if isinstance(i, Connected)})

    def raw(self, conn: int = 1) -> bytes:
        """What the ``.ami.raw`` file of that connection holds: the received bytes, concatenated."""
        return b"".join(r.raw for r in self.received(conn))


def parse_fields(raw: bytes) -> list[tuple[str, str]]:
    """Split one AMI message into ``(key, value)`` pairs; lines without ``": "`` are skipped."""
    pairs: list[tuple[str, str]] = []
    for line in raw.decode("utf-8", errors="replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            pairs.append((key, value))
        elif line.endswith(":"):
            # "AccountCode: " loses its trailing space nowhere, but be lenient with "Key:" anyway.
            pairs.append((line[:-1], ""))
    return pairs


def load(path: str | Path) -> Transcript:
    """Parse a transcript file. Raw lines are kept byte-exact, annotation lines are interpreted."""
    path = Path(path)
    data = path.read_bytes()
    lines = data.split(b"\n")
    title = ""
    items: list[Item] = []
    conn = 1
    pending: tuple[int, float] | None = None  # (conn, t) of the message being collected
    body: list[bytes] = []
    sent: tuple[int, float, list[tuple[str, str]]] | None = None

    def flush_message() -> None:
        nonlocal pending, body
        if pending is not None and body:
            items.append(Received(conn=pending[0], t=pending[1], raw=b"\n".join(body) + b"\n"))
        pending, body = None, []

    def flush_sent() -> None:
        nonlocal sent
        if sent is not None:
            items.append(Sent(conn=sent[0], t=sent[1], fields=tuple(sent[2])))
        sent = None

    for index, line in enumerate(lines):
        if index == len(lines) - 1 and line == b"":
            break  # the file's final LF
        if not line.startswith(b"#"):
            # Raw stream: the split on LF removed the LF of each CRLF; put it back.
            body.append(line)
            continue
        flush_message()
        text = line.decode("utf-8", errors="replace")
        if text.startswith("# > "):
            if sent is not None:
                key, _, value = text[4:].partition(": ")
                sent[2].append((key, value))
            continue
        flush_sent()
        if not title and text.startswith("# AMI transcript: "):
            continue
        if not title and text.startswith("# ") and index in (1,):
            title = text[2:]
        if m := _RECEIVED.match(text):
            if m["conn"]:
                conn = int(m["conn"])
            pending = (conn, float(m["t"]))
        elif m := _SENT.match(text):
            sent = (int(m["conn"]), float(m["t"]), [])
        elif m := _CONNECTED.match(text):
            conn = int(m["conn"])
            items.append(Connected(conn=conn, t=float(m["t"])))
        elif m := _EOF.match(text):
            items.append(Closed(conn=int(m["conn"]), t=float(m["t"])))
        elif m := _RAN.match(text):
            items.append(Ran(t=float(m["t"]), what=m["what"]))
    flush_message()
    flush_sent()
    return Transcript(path=path, title=title, items=items)


def iter_transcripts(directory: str | Path) -> Iterator[Transcript]:
    for path in sorted(Path(directory).glob("*.ami.txt")):
        yield load(path)
