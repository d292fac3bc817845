"""``make bench-engine``: how fast the engine places callbacks and the listener follows them.

Part 1, the whole path: the PBX simulator, Celery workers on the real Redis broker, the AMI listener and
PostgreSQL, each in its own process as in production. N callbacks are submitted at a steady rate through
the same service the widget uses; every call talks long enough that all of them are in flight at once, and
every tenant is prepaid and billed per leg (funds reserved before each Originate, settled from its CDRs).
Prints callbacks/s placed, submit-to-Originate latency p50/p99, the CPU each part spent per callback while
submitting, and how many requests ended in each state.

Part 2, the listener alone: a TCP server streams the bytes of recorded real Asterisk callbacks
(../shared/asterisk transcript 14, ids rewritten per call) as fast as the socket takes them. Prints AMI
messages/s the listener's reader takes in, the worst event-loop stall while it does, and events/s its
applier turns into call state in PostgreSQL. Then the same at a steady 25,000 messages/s (the peak of a real
Asterisk's 1,000-callback burst, issue 3's "reads ≥ 25,000 messages/s without its reader stalling") and at a
steady 5,000 messages/s (RELIABILITY R6's load): the event-loop stall p99.9 (< 50 ms), its longest, and whether
the applier keeps up (its largest backlog).

Runs against its own database (huibo_bench, created and dropped here) and Redis DB 14.
"""

import argparse
import asyncio
import os
import subprocess
import sys
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


def _stream_for(calls: int, first: int) -> tuple[bytes, int]:
    template = _one_callback_stream()
    chunks = []
    for i in range(first, first + calls):
        chunk = template.replace(b"cb-304-", f"bench{i:06d}-".encode())
        chunk = chunk.replace(b"1795301070.", f"9{i:06d}.".encode())
        chunks.append(chunk)
    stream = b"".join(chunks)
    return stream, stream.count(b"\r\n\r\n")


async def _send_paced(writer: asyncio.StreamWriter, messages: list[bytes], rate: float) -> None:
    """The messages at ``rate`` per second, written every 5 ms as Asterisk would send a steady load."""
    loop = asyncio.get_running_loop()
    started, sent = loop.time(), 0
    while sent < len(messages):
        due = min(len(messages), int((loop.time() - started) * rate) + 1)
        writer.write(b"".join(messages[sent:due]))
        sent = due
        await writer.drain()
        await asyncio.sleep(0.005)


async def _serve(stream: bytes, port_ready: "asyncio.Future[int]", done: asyncio.Event, rate: float | None) -> None:
    # Split before serving: on the loop the listener shares with this stand-in, it would count as a stall.
    messages = [message + b"\r\n\r\n" for message in stream.split(b"\r\n\r\n") if message] if rate else []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        while True:
            try:
                block = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the listener logged off at the end of the run
                return
            action_id = next(
                (line.split(b": ", 1)[1] for line in block.split(b"\r\n") if line.startswith(b"ActionID")), b""
            )
            if b"Action: Login" in block:
                writer.write(
                    b"Response: Success\r\nActionID: " + action_id + b"\r\nMessage: Authentication accepted\r\n\r\n"
                )
                writer.write(
                    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 100\r\nLastReload: 100\r\n"
                    b"Status: Fully Booted\r\n\r\n"
                )
            elif b"Action: CoreShowChannels" in block:
                writer.write(
                    b"Response: Success\r\nActionID: "
                    + action_id
                    + b"\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
                )
                writer.write(
                    b"Event: CoreShowChannelsComplete\r\nActionID: "
                    + action_id
                    + b"\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
                )
                if rate is None:
                    writer.write(stream)
                else:
                    await _send_paced(writer, messages, rate)
                await writer.drain()
                done.set()
            else:
                writer.write(b"Response: Success\r\nActionID: " + action_id + b"\r\nPing: Pong\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port_ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def bench_listener(calls: int, *, rate: float | None = None, first: int = 0, load: str = "") -> None:
    """The listener fed ``calls`` recorded callbacks as fast as the socket takes them, or at ``rate`` messages/s;
    ``first`` numbers the first call, so that each run has channels of its own."""
    import django

    django.setup()
    from callback.ami import AmiMessage
    from callback.listener import Applier, NodeLink, collector_tune_for_listener
    from callback.models import AsteriskNode, CallAttempt, CallbackRequest
    from conftest import make_enterprise

    stream, messages = _stream_for(calls, first)
    enterprise = make_enterprise(f"bench-listener-{first}")
    node = AsteriskNode.objects.create(name=f"bench-stream-{first}", host="127.0.0.1", port=1, username="u", secret="s")
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
        for i, r in enumerate(requests, start=first)
    )  # fmt: skip

    received: list[float] = []
    stalls: list[float] = []
    backlog: list[int] = []
    collector_tune_for_listener()  # as ``manage.py ami_listener`` runs

    async def main() -> tuple[float, float, int]:
        loop = asyncio.get_running_loop()
        port_ready: asyncio.Future[int] = loop.create_future()
        sent = asyncio.Event()
        server = asyncio.create_task(_serve(stream, port_ready, sent, rate))
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
                backlog.append(applier.inbox.qsize())

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
    stall = f"event-loop stall p99.9 {_percentile(stalls, 0.999) * 1000:.1f} ms, max {max(stalls) * 1000:.1f} ms"
    if rate is not None:
        print(f"listener at a steady {rate:,.0f} messages/s ({load}): {calls} callbacks, {len(received)} AMI messages")
        print(
            f"  {stall}; applier backlog at most {max(backlog):,} messages; "
            f"{state_changes} state changes, {ended}/{calls} calls ended"
        )
        return
    print(f"listener: {calls} callbacks, {len(received)} AMI messages ({len(stream) / 1e6:.1f} MB)")
    print(f"  reader:   {len(received) / read_seconds:,.0f} messages/s; {stall}")
    print(
        f"  applier:  {len(received) / apply_seconds:,.0f} events/s applied to call state "
        f"({state_changes} state changes, {ended}/{calls} calls ended)"
    )


# -- part 1: the whole path -----------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (Celery's pool), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:  # not Linux, or gone
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) for child in children)


def _machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds spent busy and in all, over every core since boot, from /proc/stat."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def bench_whole_path(callbacks: int, rate: float, workers: int) -> None:
    import django
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # the bench's own Redis DB
    ami_port = _free_port()
    env = {
        **os.environ,
        "HUIBO_ASTERISK_NODES": f"ami://huibo:bench-secret@127.0.0.1:{ami_port}?channels={callbacks * 2}&name=bench",
        "LOG_LEVEL": "WARNING",
    }
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    processes = [
        _start([python, "-m", "asterisk.simulator", "--port", str(ami_port), "--secret", "bench-secret",
                "--log-level", "WARNING"], env, logs / "simulator.log"),
        _start([python, "-m", "celery", "-A", "huibo", "worker", "--pool=prefork", f"--concurrency={workers}",
                "--loglevel=WARNING"], env, logs / "worker.log"),
        _start([python, "manage.py", "ami_listener"], env, logs / "listener.log"),
    ]  # fmt: skip
    try:
        django.setup()
        from django.db.models import Max, Min

        from billing.tests.helpers import billed_enterprise
        from callback.models import AsteriskNode, CallAttempt, CallbackRequest
        from callback.services.requests import callback_request_create
        from callback.statemachine import FINAL_STATUSES
        from conftest import make_enterprise
        from tenants.models import Enterprise

        deadline = time.monotonic() + 30
        while not AsteriskNode.objects.filter(name="bench", ami_state="up").exists():
            if time.monotonic() > deadline:
                raise SystemExit("the listener never logged in to the simulator; see var/bench/*.log")
            time.sleep(0.2)
        per_enterprise = 10
        enterprises = []
        for index in range((callbacks + per_enterprise - 1) // per_enterprise):
            numbers = tuple(f"+86138{index:03d}{n}1100" for n in range(per_enterprise))
            enterprise = make_enterprise(f"bench-{index}", numbers=numbers)
            Enterprise.objects.filter(pk=enterprise.pk).update(max_concurrent_calls=per_enterprise, visitor_retries=0)
            billed_enterprise(enterprise, top_up="10000")  # prepaid, billed per leg: funds reserved for every call
            enterprises.append(enterprise)
        print(
            f"whole path: {callbacks} callbacks at {rate:g}/s, {workers} Celery worker processes, "
            f"each call talks 30 s so all are in flight together; every tenant prepaid and billed per leg"
        )
        roles = ("simulator", "Celery worker", "listener")
        cpu_before = [_cpu_seconds(process.pid) for process in processes]
        own_before, machine_before = time.process_time(), _machine_busy_seconds()
        started = time.perf_counter()
        for i in range(callbacks):
            due = started + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            callback_request_create(enterprise=enterprises[i // per_enterprise], visitor_number=f"+86139{i:04d}1030")
        submitted = time.perf_counter() - started
        cpu = [_cpu_seconds(process.pid) - before for process, before in zip(processes, cpu_before, strict=True)]
        own = time.process_time() - own_before
        busy, total = (after - before for after, before in zip(_machine_busy_seconds(), machine_before, strict=True))
        placed_by = time.monotonic() + 60
        while CallAttempt.objects.count() < callbacks and time.monotonic() < placed_by:
            time.sleep(0.2)
        latencies = [
            (sent - created).total_seconds()
            for created, sent in CallAttempt.objects.filter(number=1).values_list(
                "request__created_at", "originate_sent_at"
            )
        ]
        placed = len(latencies)
        in_flight = CallAttempt.objects.filter(status__in=["first_answered", "connected"]).count()
        span = CallAttempt.objects.aggregate(first=Min("originate_sent_at"), last=Max("originate_sent_at"))
        seconds = (span["last"] - span["first"]).total_seconds() if placed > 1 else 0.0
        print(
            f"  submitted in {submitted:.1f} s; {placed} Originates sent"
            + (f", {placed / seconds:.0f} callbacks/s placed" if seconds else "")
        )
        print(
            f"  submit-to-Originate latency: p50 {_percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {_percentile(latencies, 0.99) * 1000:.0f} ms"
        )
        # Where the CPU went while submitting; PostgreSQL, Redis and the rest of the machine are the remainder.
        shares = ", ".join(f"{role} {seconds / callbacks * 1000:.1f}" for role, seconds in zip(roles, cpu, strict=True))
        others = busy - sum(cpu) - own
        print(
            f"  CPU per callback while submitting (ms): {shares}, submitting {own / callbacks * 1000:.1f}, "
            f"PostgreSQL + Redis + other {others / callbacks * 1000:.1f}; machine {busy / total:.0%} busy"
        )
        peak = in_flight
        final_by = time.monotonic() + 120
        while CallbackRequest.objects.exclude(status__in=[s.value for s in FINAL_STATUSES]).exists():
            peak = max(peak, CallAttempt.objects.filter(status="connected").count())
            if time.monotonic() > final_by:
                break
            time.sleep(0.5)
        counts: dict[str, int] = {}
        for status, reason in CallbackRequest.objects.values_list("status", "reason_code"):
            counts[f"{status}/{reason}"] = counts.get(f"{status}/{reason}", 0) + 1
        dials = CallAttempt.objects.count()
        print(f"  connected at once (peak seen): {peak}; Originates: {dials} for {callbacks} requests")
        print("  final states: " + ", ".join(f"{key} {value}" for key, value in sorted(counts.items())))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callbacks", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="submissions per second")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--listener-calls", type=int, default=2000)
    parser.add_argument("--peak-calls", type=int, default=1000, help="callbacks streamed at --peak-rate")
    parser.add_argument("--peak-rate", type=float, default=25000.0, help="AMI messages/s (a real burst's peak)")
    parser.add_argument("--steady-calls", type=int, default=400, help="callbacks streamed at --steady-rate")
    parser.add_argument("--steady-rate", type=float, default=5000.0, help="AMI messages/s (R6's load)")
    parser.add_argument("--skip-whole-path", action="store_true")
    args = parser.parse_args()
    _reset_database()
    if not args.skip_whole_path:
        bench_whole_path(args.callbacks, args.rate, args.workers)
    bench_listener(args.listener_calls)
    bench_listener(args.peak_calls, rate=args.peak_rate, first=args.listener_calls, load="a real burst's peak")
    first = args.listener_calls + args.peak_calls
    bench_listener(args.steady_calls, rate=args.steady_rate, first=first, load="R6")


if __name__ == "__main__":
    main()
