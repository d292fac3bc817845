"""``make bench-engine``: how fast the engine places callbacks and the listener follows them.

Part 1, the whole path: the PBX simulator, Celery workers on the real Redis broker, the AMI listener and
PostgreSQL, each in its own process as in production. N callbacks are submitted at a steady rate through
the same service the widget uses; every call talks long enough that all of them are in flight at once.
Prints callbacks/s placed, submit-to-Originate latency p50/p99, and how many requests ended in each state.

Part 2, the listener alone: a TCP server streams the bytes of recorded real Asterisk callbacks
(../shared/asterisk transcript 14, ids rewritten per call) as fast as the socket takes them. Prints AMI
messages/s the listener's reader takes in, the worst event-loop stall while it does, and events/s its
applier turns into call state in PostgreSQL.

Runs against its own database (huibo_bench, created and dropped here) and Redis DB 14.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DB = "huibo_bench"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huibo.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
SHARED = Path(os.environ.get("HUIBO_SHARED_DIR", ROOT.parent / "shared"))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _reset_database() -> None:
    import psycopg2

    connection = psycopg2.connect(f"{PG}/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {BENCH_DB}")
    connection.close()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)


# -- part 2: the listener alone -----------------------------------------------------------------------


def _one_callback_stream() -> bytes:
    raw = (SHARED / "asterisk" / "transcripts" / "14-originate-with-channelid.ami.raw").read_bytes()
    start = raw.index(b"Event: Newchannel")  # the call's events, after the Originate's own reply
    end = raw.index(b"Response: Goodbye")
    return raw[start:end]


def _stream_for(calls: int) -> tuple[bytes, int]:
    template = _one_callback_stream()
    chunks = []
    for i in range(calls):
        chunk = template.replace(b"cb-304-", f"bench{i:06d}-".encode())
        chunk = chunk.replace(b"1795301070.", f"9{i:06d}.".encode())
        chunks.append(chunk)
    stream = b"".join(chunks)
    return stream, stream.count(b"\r\n\r\n")


async def _serve(stream: bytes, port_ready: "asyncio.Future[int]", done: asyncio.Event) -> None:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        while True:
            block = await reader.readuntil(b"\r\n\r\n")
            action_id = next((line.split(b": ", 1)[1] for line in block.split(b"\r\n") if line.startswith(b"ActionID")), b"")
            if b"Action: Login" in block:
                writer.write(b"Response: Success\r\nActionID: " + action_id + b"\r\nMessage: Authentication accepted\r\n\r\n")
                writer.write(b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 100\r\nLastReload: 100\r\nStatus: Fully Booted\r\n\r\n")
            elif b"Action: CoreShowChannels" in block:
                writer.write(b"Response: Success\r\nActionID: " + action_id + b"\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n")
                writer.write(b"Event: CoreShowChannelsComplete\r\nActionID: " + action_id + b"\r\nEventList: Complete\r\nListItems: 0\r\n\r\n")
                writer.write(stream)
                await writer.drain()
                done.set()
            else:
                writer.write(b"Response: Success\r\nActionID: " + action_id + b"\r\nPing: Pong\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port_ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def bench_listener(calls: int) -> None:
    import django

    django.setup()
    from callback.ami import AmiMessage
    from callback.listener import Applier, NodeLink
    from callback.models import AsteriskNode, CallAttempt, CallbackRequest
    from conftest import make_enterprise

    stream, messages = _stream_for(calls)
    enterprise = make_enterprise("bench-listener")
    node = AsteriskNode.objects.create(name="bench-stream", host="127.0.0.1", port=1, username="u", secret="s")
    bound = enterprise.bound_numbers.get()
    requests = CallbackRequest.objects.bulk_create(
        CallbackRequest(enterprise=enterprise, visitor_number="+8613900001005", call_order="enterprise_first",
                        status="dialing_enterprise", due_at="2026-01-01T00:00Z", expires_at="2027-01-01T00:00Z",
                        attempts_made=1) for _ in range(calls)
    )  # fmt: skip
    CallAttempt.objects.bulk_create(
        CallAttempt(request=r, enterprise=enterprise, number=1, node=node, bound_number=bound,
                    enterprise_number=bound.number, visitor_number=r.visitor_number, action_id=f"bench{i:06d}-orig",
                    channel_id=f"bench{i:06d}-a", other_channel_id=f"bench{i:06d}-a2", status="originated")
        for i, r in enumerate(requests)
    )  # fmt: skip

    received: list[float] = []
    stalls: list[float] = []

    async def main() -> tuple[float, float, int]:
        loop = asyncio.get_running_loop()
        port_ready: asyncio.Future[int] = loop.create_future()
        sent = asyncio.Event()
        server = asyncio.create_task(_serve(stream, port_ready, sent))
        node.port = await port_ready
        applier = Applier()
        link = NodeLink(node, applier)

        enqueue = link.client._on_event

        def on_event(message: AmiMessage) -> None:
            received.append(time.perf_counter())
            enqueue(message)

        link.client._on_event = on_event
        stop_ticker = asyncio.Event()

        async def ticker() -> None:
            # The loop must never stall: Asterisk drops AMI clients that do not read for 100 ms.
            while not stop_ticker.is_set():
                before = loop.time()
                await asyncio.sleep(0.005)
                stalls.append(loop.time() - before - 0.005)

        tick = asyncio.create_task(ticker())
        await link.client.start()
        applier.start()
        started = time.perf_counter()
        while len(received) < messages - 5:
            await asyncio.sleep(0.01)
        read_seconds = received[-1] - received[0]
        while not applier.inbox.empty():
            await asyncio.sleep(0.01)
        applier_done = time.perf_counter()
        stop_ticker.set()
        await tick
        await link.client.close()
        server.cancel()
        await loop.run_in_executor(None, applier.stop)
        return read_seconds, applier_done - started, applier.applied

    read_seconds, apply_seconds, state_changes = asyncio.run(main())
    ended = CallAttempt.objects.filter(node=node, status="ended").count()
    print(f"listener: {calls} callbacks, {len(received)} AMI messages ({len(stream) / 1e6:.1f} MB)")
    print(f"  reader:   {len(received) / read_seconds:,.0f} messages/s; event-loop stall p99.9 "
          f"{_percentile(stalls, 0.999) * 1000:.1f} ms, max {max(stalls) * 1000:.1f} ms")
    print(f"  applier:  {len(received) / apply_seconds:,.0f} events/s applied to call state "
          f"({state_changes} state changes, {ended}/{calls} calls ended)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listener-calls", type=int, default=2000)
    args = parser.parse_args()
    _reset_database()
    bench_listener(args.listener_calls)


if __name__ == "__main__":
    main()
