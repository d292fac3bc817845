"""Drive a simulator with the client side of a recorded transcript and compare what comes back.

The simulator runs on a manual clock: simulated time is moved to each recorded client step (connect,
action, ``# --- ran: core restart now``, which becomes ``AmiServer.restart()``) and the step happens at
exactly its recorded time, over TCP; nothing sleeps and nothing depends on how busy the machine is.

Messages are compared after normalising what differs between runs by nature:
ids (mapped to first-seen labels, so "Linkedid equals the Uniqueid of which channel" is still checked),
Local channel counters, bridge ids, timestamps, session ids and addresses, millisecond timings.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from asterisk.simulator.interleaving import Interleaving
from asterisk.simulator.pbx import PbxSettings
from asterisk.simulator.protocol import BANNER, Fields
from asterisk.simulator.server import AmiServer
from asterisk.simulator.transcript import Closed, Connected, Ran, Received, Sent, Transcript, parse_fields
from asterisk.simulator.users import ALL_CLASSES, AmiUser


def shared_dir() -> Path:
    env = os.environ.get("HUIBO_SHARED_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared"


def transcripts_dir() -> Path:
    return shared_dir() / "asterisk" / "transcripts"


def split_stream(data: bytes) -> list[bytes]:
    """The banner, then one item per CRLF CRLF-terminated message (a trailing partial message is kept)."""
    out: list[bytes] = []
    if data.startswith(BANNER):
        out.append(BANNER)
        data = data[len(BANNER) :]
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            out.append(data)
            break
        out.append(data[: end + 4])
        data = data[end + 4 :]
    return out


# -- running -----------------------------------------------------------------------------------------------


@dataclass
class Run:
    streams: dict[int, bytes] = field(default_factory=dict)


def recorded_interleaving(transcript: Transcript, skip_events: Iterable[str] = ()) -> Interleaving:
    skip = set(skip_events)
    messages = [r.fields() for r in transcript.items if isinstance(r, Received)]
    return Interleaving.from_messages(m for m in messages if m and not (m[0][0] == "Event" and m[0][1] in skip))


def make_server(interleaving: Interleaving | None) -> AmiServer:
    return AmiServer(
        users={"callback": AmiUser("callback", "secret", read=ALL_CLASSES, write=ALL_CLASSES)},
        settings=PbxSettings(channelvars=["CALLBACK_ID"]),
        interleaving=interleaving,
        manual_clock=True,
    )


async def _settle() -> None:
    """Let the loop deliver what is in flight (socket reads and writes, freshly created tasks)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def drive(transcript: Transcript, server: AmiServer, skip_events: Iterable[str] = ()) -> Run:
    """Play the client side of ``transcript`` against ``server`` (started, with a manual clock).

    Simulated time is moved to each recorded client step in turn (a connect, an action, a CLI command) and
    the step happens exactly then: the server answers an action before time moves on. Nothing sleeps.
    """
    skip = set(skip_events)
    run = Run()
    buffers: dict[int, bytearray] = {}
    writers: dict[int, asyncio.StreamWriter] = {}
    readers: dict[int, asyncio.Task[None]] = {}
    sent: dict[int, int] = {}
    sessions: dict[int, int] = {}  # recorded connection -> index in server.all_sessions

    async def read(conn: int, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(65536):
            buffers[conn].extend(chunk)

    for item in transcript.items:
        if isinstance(item, Received) or isinstance(item, Closed):
            continue
        server.clock.advance_to(item.t)
        await _settle()
        if isinstance(item, Connected):
            if not server.listening.is_set():
                await asyncio.wait_for(server.listening.wait(), timeout=5)  # refused while restarting
            before = len(server.all_sessions)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
            while len(server.all_sessions) == before:
                await asyncio.sleep(0)
            sessions[item.conn] = before
            buffers[item.conn] = bytearray()
            writers[item.conn] = writer
            readers[item.conn] = asyncio.create_task(read(item.conn, reader))
        elif isinstance(item, Sent):
            writer = writers[item.conn]
            writer.write(("".join(f"{k}: {v}\r\n" for k, v in item.fields) + "\r\n").encode())
            await writer.drain()
            sent[item.conn] = sent.get(item.conn, 0) + 1
            session = server.all_sessions[sessions[item.conn]]
            while session.handled < sent[item.conn] and not session.closing and not session.waiting_for_time:
                await asyncio.sleep(0)
        elif isinstance(item, Ran) and "restart" in item.what:
            server.restart()
        await _settle()
    for conn, task in readers.items():
        try:
            await asyncio.wait_for(task, timeout=5)
        except TimeoutError:
            task.cancel()
        writers[conn].close()
        run.streams[conn] = bytes(buffers[conn])
    del skip
    return run


def run_transcript(transcript: Transcript, use_interleaving: bool, skip_events: Iterable[str] = ()) -> Run:
    async def main() -> Run:
        interleaving = recorded_interleaving(transcript, skip_events) if use_interleaving else None
        server = make_server(interleaving)
        await server.start()
        try:
            return await drive(transcript, server, skip_events=skip_events)
        finally:
            await server.stop()

    return asyncio.run(main())


# -- comparing ---------------------------------------------------------------------------------------------

_ID = re.compile(r"^\d{9,11}\.\d+$")
_LOCAL = re.compile(r"(Local/[^\s;@]+@[^\s;-]+)-([0-9a-f]{8})")
_ID_FIELDS = {
    "Uniqueid",
    "Linkedid",
    "DestUniqueid",
    "DestLinkedid",
    "LocalOneUniqueid",
    "LocalOneLinkedid",
    "LocalTwoUniqueid",
    "LocalTwoLinkedid",
    "UniqueID",
    "LinkedID",
}
_IGNORED = {
    "EventTV",
    "SessionTV",
    "SessionID",
    "LocalAddress",
    "RemoteAddress",
    "Timestamp",
    "Uptime",
    "LastReload",
    "EventTime",
}
_PRESENCE_ONLY = {"StartTime", "AnswerTime", "EndTime"}


class Normalizer:
    """Per-stream labels for run-specific ids, so two streams can be compared field by field."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.locals: dict[str, str] = {}
        self.bridges: dict[str, str] = {}

    def _label(self, table: dict[str, str], value: str, prefix: str) -> str:
        if value not in table:
            table[value] = f"{prefix}{len(table)}"
        return table[value]

    def text(self, value: str) -> str:
        return _LOCAL.sub(lambda m: f"{m.group(1)}-{self._label(self.locals, m.group(2), 'L')}", value)

    def message(self, fields: Fields) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        variable = ""
        for key, value in fields:
            key = self.text(key)
            if key == "Variable":
                variable = value
            if key in _IGNORED:
                value = "*"
            elif key in _PRESENCE_ONLY:
                value = "set" if value else ""
            elif key in _ID_FIELDS and _ID.match(value):
                value = self._label(self.ids, value, "U")
            elif key == "BridgeUniqueid":
                value = self._label(self.bridges, value, "B")
            elif key == "Value" and variable.endswith("_MS") and value:
                value = "<ms>"
            elif key == "Extra" and "bridge_id" in value:
                value = re.sub(r'"bridge_id":"[^"]+"', '"bridge_id":"*"', value)
            else:
                value = self.text(value)
            out.append((key, value))
        return out


def messages(stream: bytes) -> list[Fields]:
    return [parse_fields(raw) for raw in split_stream(stream)[1:]]


def is_event(fields: Fields) -> bool:
    return bool(fields) and fields[0][0] == "Event"


def describe(fields: list[tuple[str, str]]) -> str:
    keep = (
        "Event",
        "Response",
        "Channel",
        "DestChannel",
        "Variable",
        "Value",
        "Application",
        "AppData",
        "ChannelStateDesc",
        "DialStatus",
        "Cause",
        "Disposition",
        "Reason",
        "Device",
        "State",
        "Message",
    )
    return " ".join(f"{k}={v}" for k, v in fields if k in keep)


def first_difference(expected: list[list[tuple[str, str]]], actual: list[list[tuple[str, str]]]) -> str | None:
    for index in range(max(len(expected), len(actual))):
        want = expected[index] if index < len(expected) else None
        got = actual[index] if index < len(actual) else None
        if want != got:
            lines = [f"first difference at message {index} (recorded {len(expected)}, simulated {len(actual)})"]
            for j in range(max(0, index - 3), min(max(len(expected), len(actual)), index + 4)):
                e = describe(expected[j]) if j < len(expected) else "-"
                a = describe(actual[j]) if j < len(actual) else "-"
                mark = ">>" if j == index else "  "
                lines.append(f"{mark} {j:3d} recorded:  {e}\n{mark}     simulated: {a}")
            if want is not None and got is not None:
                keys = {k for k, _ in want} | {k for k, _ in got}
                diffs = [
                    f"{k}: recorded={dict(want).get(k)!r} simulated={dict(got).get(k)!r}"
                    for k in sorted(keys)
                    if dict(want).get(k) != dict(got).get(k)
                ]
                if [k for k, _ in want] != [k for k, _ in got]:
                    diffs.append(f"field order: recorded={[k for k, _ in want]} simulated={[k for k, _ in got]}")
                lines.append("   differing fields: " + "; ".join(diffs))
            return "\n".join(lines)
    return None


def normalized(
    stream_messages: list[Fields], events: bool, skip_events: Iterable[str] = ()
) -> list[list[tuple[str, str]]]:
    skip = set(skip_events)
    normalizer = Normalizer()
    out = []
    for fields in stream_messages:
        norm = normalizer.message(fields)
        if is_event(fields) != events:
            continue
        if events and fields[0][1] in skip:
            continue
        out.append(norm)
    return out


def per_channel(events: list[list[tuple[str, str]]]) -> dict[str, list[list[tuple[str, str]]]]:
    """Each channel's own events (those whose ``Channel`` is it), excluding other threads' reports
    (Cdr and OriginateResponse) whose position relative to the channel's events is a race."""
    out: dict[str, list[list[tuple[str, str]]]] = {}
    for fields in events:
        values = dict(fields)
        if values.get("Event") in ("Cdr", "OriginateResponse", "CEL"):
            continue
        if "Channel" in values:
            out.setdefault(values["Channel"], []).append(fields)
    return out


def closed_connections(transcript: Transcript) -> set[int]:
    return {i.conn for i in transcript.items if isinstance(i, Closed)}
