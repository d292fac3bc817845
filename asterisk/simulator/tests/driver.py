"""Drive a simulator with the client side of a recorded transcript and compare what comes back.

The client sends each recorded action at its recorded time (scaled), once it has received as many
messages on that connection as the recording had by then; ``# --- ran: core restart now`` becomes
``AmiServer.restart()``. Messages are compared after normalising what differs between runs by nature:
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
from asterisk.simulator.server import ALL_CLASSES, AmiServer, AmiUser
from asterisk.simulator.transcript import Closed, Connected, Ran, Sent, Transcript, parse_fields


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
    messages = [r.fields() for r in transcript.items if hasattr(r, "raw")]  # type: ignore[attr-defined]
    return Interleaving.from_messages(
        m for m in messages if m and not (m[0][0] == "Event" and m[0][1] in skip)
    )


def make_server(interleaving: Interleaving | None, time_scale: float) -> AmiServer:
    return AmiServer(
        users={"callback": AmiUser("callback", "secret", read=ALL_CLASSES, write=ALL_CLASSES)},
        time_scale=time_scale,
        settings=PbxSettings(channelvars=["CALLBACK_ID"]),
        interleaving=interleaving,
    )


async def drive(transcript: Transcript, server: AmiServer, time_scale: float, deadline: float = 20.0) -> Run:
    """Play the client side of ``transcript`` against ``server`` (already started)."""
    loop = asyncio.get_running_loop()
    run = Run()
    received_counts: dict[int, int] = {}

    def at(t: float) -> float:
        return start + t * time_scale

    async def sleep_until(t: float) -> None:
        delay = at(t) - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    # How many messages the recording had received on a connection before each of its sends.
    before: dict[int, list[int]] = {}
    counts: dict[int, int] = {}
    for item in transcript.items:
        if hasattr(item, "raw"):
            counts[item.conn] = counts.get(item.conn, 0) + 1  # type: ignore[attr-defined]
        elif isinstance(item, Sent):
            before.setdefault(item.conn, []).append(counts.get(item.conn, 0))

    async def connection(conn: int, connect_at: float) -> None:
        await sleep_until(connect_at)
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        for _ in range(200):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
                break
            except OSError:
                await asyncio.sleep(0.1 * time_scale)
        assert reader is not None and writer is not None, f"connection {conn} refused"
        buffer = bytearray()
        got = asyncio.Event()

        async def read() -> None:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                buffer.extend(chunk)
                received_counts[conn] = len(split_stream(bytes(buffer)))
                got.set()

        reading = asyncio.create_task(read())
        sends = [s for s in transcript.sent(conn)]
        for index, sent in enumerate(sends):
            await sleep_until(sent.t)
            wanted = before.get(conn, [])[index] if index < len(before.get(conn, [])) else 0
            while received_counts.get(conn, 0) < wanted and not reading.done():
                got.clear()
                try:
                    await asyncio.wait_for(got.wait(), timeout=1.0)
                except TimeoutError:
                    break
            payload = "".join(f"{k}: {v}\r\n" for k, v in sent.fields) + "\r\n"
            writer.write(payload.encode())
            await writer.drain()
        try:
            await asyncio.wait_for(reading, timeout=deadline)
        except TimeoutError:
            reading.cancel()
        writer.close()
        run.streams[conn] = bytes(buffer)

    # Things done outside AMI during the recording (``core restart now`` from the CLI) go over a control
    # connection logged in before anything else, so they reach the PBX through the same path as actions.
    control: asyncio.StreamWriter | None = None
    ran_items = [item for item in transcript.items if isinstance(item, Ran)]
    if ran_items:
        control_reader, control = await asyncio.open_connection("127.0.0.1", server.bound_port)
        control.write(b"Action: Login\r\nUsername: callback\r\nSecret: secret\r\nEvents: off\r\n\r\n")
        await control.drain()
        await control_reader.readuntil(b"Authentication accepted\r\n\r\n")

    async def ran(item: Ran) -> None:
        await sleep_until(item.t)
        if "restart" in item.what and control is not None:
            control.write(b"Action: Command\r\nCommand: core restart now\r\n\r\n")
            await control.drain()

    start = loop.time()
    tasks = [
        asyncio.create_task(connection(item.conn, item.t))
        for item in transcript.items
        if isinstance(item, Connected)
    ]
    tasks += [asyncio.create_task(ran(item)) for item in transcript.items if isinstance(item, Ran)]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=deadline + 5)
    if control is not None:
        control.close()
    return run


def run_transcript(transcript: Transcript, time_scale: float, use_interleaving: bool, skip_events: Iterable[str] = ()) -> Run:
    async def main() -> Run:
        interleaving = recorded_interleaving(transcript, skip_events) if use_interleaving else None
        server = make_server(interleaving, time_scale)
        await server.start()
        try:
            return await drive(transcript, server, time_scale)
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


def normalized(stream_messages: list[Fields], events: bool, skip_events: Iterable[str] = ()) -> list[list[tuple[str, str]]]:
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
