"""Replay: a client connected to the replay server receives a recorded connection's bytes exactly, the
banner at once and the rest after its first action, on the recorded (scaled) timeline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from asterisk.simulator import ReplayServer
from asterisk.simulator.protocol import BANNER, encode
from asterisk.simulator.tests.driver import transcripts_dir
from asterisk.simulator.transcript import load

TRANSCRIPTS = sorted(transcripts_dir().glob("*.ami.txt"))


def _raw_file(path: Path, conn: int) -> Path:
    stem = path.name.removesuffix(".ami.txt")
    return path.with_name(f"{stem}.ami.raw" if conn == 1 else f"{stem}.conn{conn}.ami.raw")


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.name.removesuffix(".ami.txt"))
def test_replay_sends_the_recorded_bytes_exactly(path: Path) -> None:
    transcript = load(path)

    async def story() -> dict[int, bytes]:
        server = ReplayServer(path, time_scale=0.005)
        await server.start()
        try:
            received: dict[int, bytes] = {}

            async def connection(conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                data = await reader.readexactly(len(BANNER))
                first = transcript.sent(conn)[0]
                writer.write(encode(first.fields))
                await writer.drain()
                data += await reader.read(-1)  # until the server closes, where the recording saw EOF
                received[conn] = data
                writer.close()

            tasks = []
            for conn in transcript.connections():  # accepted in order: connection N replays recorded N
                reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
                await reader.readexactly(0)
                tasks.append(asyncio.create_task(connection(conn, reader, writer)))
                await asyncio.sleep(0)
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
            return received
        finally:
            await server.stop()

    received = asyncio.run(story())
    for conn in transcript.connections():
        assert received[conn] == _raw_file(path, conn).read_bytes()
