"""``make bench-widget``: the widget's submit endpoint under load, on a real gunicorn on this machine.

1. Recreates a benchmark database (``huibo_bench_widget``) and uses a dedicated Redis database index
   (``BENCH_WIDGET_REDIS_DB``, 12 by default), so nothing touches the development or test data. No Celery
   worker runs: the placing tasks that accepted submissions queue stay in that Redis database, which is
   flushed at the end (and refused at the start if it holds anything that is not ours).
2. Starts gunicorn (``--worker-class``, ``--workers``, ``--threads``) configured as in production: DEBUG off,
   captcha test mode off (it needs DEBUG, whose query log costs CPU). Each submission answers a captcha created
   beforehand with its stored answer, read from the store as the tests do: each is used once.
3. Closed loop: ``--concurrency`` connections submit as fast as they can for ``--duration`` seconds, every
   submission a new visitor (own number, own address through X-Forwarded-For), so every one is accepted
   and creates a CallbackRequest, its first event and its Lead. The load generator (``Load``: prepared
   requests, non-blocking sockets, one selector) shares the CPUs; its CPU per request is printed.
4. Open loop at half the rate reached: latency percentiles measured from the scheduled send time.
5. The same work done bare, from the same run: the same transaction straight through psycopg2 (number lock,
   in-flight count, request, event and lead in one INSERT), and the same Redis calls (captcha GETDEL, the
   admission script over the same 8 counters), each from as many processes as gunicorn has workers.

Prints requests/s, latency percentiles and the ratio bare/web, so the web stack's overhead is visible.
"""

import argparse
import json
import multiprocessing
import os
import selectors
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_DB = os.environ.get("BENCH_WIDGET_DATABASE", "huibo_bench_widget")
BENCH_REDIS_DB = int(os.environ.get("BENCH_WIDGET_REDIS_DB", "12"))
PREFIX = "bench:widget:"
ORIGIN = "https://shop.example.com"
OUR_KEY_PATTERNS = (PREFIX, "celery", "_kombu", "unacked", "huibo:")


def _urls() -> tuple[str, str, str]:
    base_db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/huibo")
    parsed = urlparse(base_db)
    bench_db = urlunparse(parsed._replace(path=f"/{BENCH_DB}"))
    admin_db = urlunparse(parsed._replace(path="/postgres"))
    redis = urlparse(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
    bench_redis = urlunparse(redis._replace(path=f"/{BENCH_REDIS_DB}"))
    return admin_db, bench_db, bench_redis


def _database_recreate(admin_db: str) -> None:
    import psycopg2

    connection = psycopg2.connect(admin_db)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{BENCH_DB}"')
    connection.close()


def _redis_claim(bench_redis: str) -> None:
    import redis

    client = redis.Redis.from_url(bench_redis)
    foreign = [k for k in client.scan_iter(count=1000) if not k.decode().startswith(OUR_KEY_PATTERNS)]
    if foreign:
        sys.exit(
            f"Redis database {BENCH_REDIS_DB} holds keys that are not the bench's ({foreign[:3]}…): "
            "set BENCH_WIDGET_REDIS_DB to a free index."
        )
    client.flushdb()


def _environment(bench_db: str, bench_redis: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "huibo.settings",
        "DATABASE_URL": bench_db,
        "DATABASE_CONN_MAX_AGE": "600",
        "REDIS_URL": bench_redis,
        "WIDGET_REDIS_KEY_PREFIX": PREFIX,
        "WIDGET_TRUSTED_PROXY_COUNT": "1",
        "SECRET_KEY": "bench-widget-not-secret",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "plain",
    }


def _setup_data(captchas: int) -> tuple[str, list[tuple[str, str]]]:
    """The bench tenant (open all week, limits that do not stop new visitors) and one captcha per submission."""
    import django

    django.setup()
    from datetime import time as clock

    from conftest import make_enterprise
    from tenants import services as tenant_services
    from widget import services as widget_services
    from widget.captcha import captcha_create
    from widget.models import WidgetPolicy

    enterprise = make_enterprise("bench", numbers=("+8613800001100",))
    tenant_services.working_hours_replace(
        enterprise=enterprise,
        intervals=[tenant_services.OpeningInterval(day, clock(0, 0), clock(23, 59, 59)) for day in range(7)],
    )
    widget_services.widget_settings_update(enterprise=enterprise, allowed_origins=[ORIGIN])
    WidgetPolicy.objects.create(enterprise=enterprise, enterprise_per_hour=10**9, enterprise_per_day=10**9)
    from widget.store import get_store, key

    keys = [captcha_create().key for _ in range(captchas)]
    # (key, answer): the store holds [challenge, response]
    solved = [(k, str(json.loads(str(get_store().peek(key("captcha", k))))[1])) for k in keys]
    return enterprise.public_key, solved


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _gunicorn(env: dict[str, str], port: int, options: argparse.Namespace) -> subprocess.Popen[bytes]:
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "huibo.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(options.workers),
        "--worker-class",
        options.worker_class,
        "--threads",
        str(options.threads),
        "--backlog",
        "4096",
        "--preload",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            continue
    return total


def _workers_of(master: int) -> list[int]:
    try:
        return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except OSError:
        return []


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, for its load during a phase."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


# -- the load generator ----------------------------------------------------------------------------------------


class Load:
    """A lean HTTP/1.1 client: non-blocking sockets on one selector, every request built before the clock starts.

    It shares the machine's CPUs with the server, so it does as little as it can per request: send prepared
    bytes, read until the response is complete, keep the connection when the server keeps it (gunicorn's
    gthread workers do, sync workers close it). ``cpu_per_request`` is what it cost, printed beside the rates.
    """

    def __init__(self, port: int, key: str, captchas: list[tuple[str, str]]) -> None:
        self.port = port
        path = f"/api/widget/v1/{key}/requests"
        self.payloads = [self._request_bytes(path, serial, *captcha) for serial, captcha in enumerate(captchas)]
        self.next = 0
        self.cpu_seconds = 0.0
        self.requests = 0

    def _request_bytes(self, path: str, serial: int, captcha: str, answer: str) -> bytes:
        body = json.dumps(
            {
                "phone": f"139{serial:08d}",
                "country": "CN",
                "captcha_key": captcha,
                "captcha_answer": answer,
                "website": "",
                "page_url": "https://shop.example.com/pricing?utm_source=bench&utm_campaign=load",
                "referrer": "https://www.baidu.com/",
                "language": "zh-CN",
            }
        ).encode()
        address = f"10.{(serial >> 16) & 255}.{(serial >> 8) & 255}.{serial & 255}"
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nOrigin: {ORIGIN}\r\n"
            f"X-Forwarded-For: {address}\r\nUser-Agent: bench\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_seconds / max(1, self.requests)

    def run(self, seconds: float, *, concurrency: int = 0, rate: float = 0.0) -> list[tuple[int, float]]:
        """Closed loop (``concurrency`` requests always in flight) or open loop (``rate`` a second, latency from
        each request's scheduled time); (status, seconds) per request, status 0 for a failed one."""
        cpu_started = time.process_time()
        selector = selectors.DefaultSelector()
        results: list[tuple[int, float]] = []
        idle: list[socket.socket] = []
        buffers: dict[socket.socket, tuple[float, bytearray]] = {}

        def begin(scheduled: float) -> None:
            payload = self.payloads[self.next]
            self.next += 1
            sock = idle.pop() if idle else socket.create_connection(("127.0.0.1", self.port))
            sock.setblocking(False)
            sock.send(payload)  # a few hundred bytes: always fits the socket's buffer
            buffers[sock] = (scheduled, bytearray())
            selector.register(sock, selectors.EVENT_READ)

        def finish(sock: socket.socket, status: int, keep: bool) -> None:
            scheduled, _buffer = buffers.pop(sock)
            selector.unregister(sock)
            results.append((status, time.perf_counter() - scheduled))
            if keep:
                idle.append(sock)
            else:
                sock.close()

        start = time.perf_counter()
        deadline = start + seconds
        sent = 0
        if concurrency:
            for _ in range(concurrency):
                begin(start)
        while True:
            now = time.perf_counter()
            due = start + sent / rate if rate else deadline
            if rate and now >= due and now < deadline:
                begin(due)
                sent += 1
                continue
            if now >= deadline and not buffers:
                break
            if now > deadline + 30:  # the server stopped answering: count the rest as failed
                for sock in list(buffers):
                    finish(sock, 0, keep=False)
                break
            for selected, _events in selector.select(timeout=max(0.0, min(due, deadline) - now) if rate else 1.0):
                sock = selected.fileobj
                assert isinstance(sock, socket.socket)
                chunk = sock.recv(65536)
                buffer = buffers[sock][1]
                buffer += chunk
                complete = _response_length(buffer)
                if complete is None and chunk:
                    continue
                status = int(buffer[9:12]) if complete is not None else 0
                finish(sock, status, keep=complete is not None and b"connection: close" not in buffer.lower())
                if concurrency and time.perf_counter() < deadline:
                    begin(time.perf_counter())
        for sock in idle:
            sock.close()
        selector.close()
        self.cpu_seconds += time.process_time() - cpu_started
        self.requests += len(results)
        return results


def _response_length(buffer: bytearray) -> int | None:
    """The length of the complete response at the start of ``buffer``, or None while it is still arriving."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).lower()
    marker = head.find(b"content-length:")
    length = int(head[marker + 15 :].split(b"\r\n", 1)[0]) if marker >= 0 else 0
    total = head_end + 4 + length
    return total if len(buffer) >= total else None


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99), "max": ordered[-1] * 1000}


def _summary(results: list[tuple[int, float]], seconds: float) -> tuple[float, dict[int, int], dict[str, float]]:
    statuses: dict[int, int] = {}
    for status, _latency in results:
        statuses[status] = statuses.get(status, 0) + 1
    accepted = [latency for status, latency in results if status == 201]
    return statuses.get(201, 0) / seconds, statuses, _percentiles(accepted or [0.0])


# -- the same work, bare ---------------------------------------------------------------------------------------


def _bare_db_worker(args: tuple[str, int, float, int]) -> int:
    bench_db, enterprise_id, seconds, offset = args
    import psycopg2

    connection = psycopg2.connect(bench_db)
    done = 0
    deadline = time.perf_counter() + seconds
    with connection.cursor() as cursor:
        while time.perf_counter() < deadline:
            number = f"+86138{offset + done:08d}"
            cursor.execute("SELECT pg_advisory_xact_lock(1, hashtext(%s))", (number,))
            cursor.execute(
                "SELECT COUNT(*) FROM callback_callbackrequest WHERE visitor_number = %s"
                " AND NOT status IN ('completed', 'failed', 'cancelled', 'expired')",
                (number,),
            )
            cursor.execute(
                "WITH request AS (INSERT INTO callback_callbackrequest (enterprise_id, visitor_number, status,"
                " call_order, reason_code, detail, source, due_at, expires_at, attempts_made, visitor_retries_left,"
                " hunted_numbers, correlation_id, created_at, updated_at) VALUES (%s, %s, 'accepted',"
                " 'enterprise_first', '', '', 'widget', now(), now() + interval '15 minutes', 0, 1, '[]', %s, now(),"
                " now()) RETURNING id), event AS (INSERT INTO callback_callbackevent (request_id, enterprise_id,"
                " from_status, to_status, event, reason_code, detail, created_at) SELECT id, %s, '', 'accepted',"
                " 'accept', '', '', now() FROM request), lead AS (INSERT INTO widget_lead (callback_request_id,"
                " enterprise_id, page_url, referrer, utm_source, utm_medium, utm_campaign, utm_term, utm_content,"
                " user_agent, language, created_at) SELECT id, %s, %s, %s, 'bench', '', 'load', '', '', 'bench',"
                " 'zh-CN', now() FROM request) SELECT id FROM request",
                (
                    enterprise_id,
                    number,
                    str(uuid.uuid4()),
                    enterprise_id,
                    enterprise_id,
                    "https://shop.example.com/pricing",
                    "https://www.baidu.com/",
                ),
            )
            connection.commit()
            done += 1
    connection.close()
    return done


def _bare_redis_worker(args: tuple[int, float, int]) -> int:
    enterprise_id, seconds, offset = args
    import django

    django.setup()
    from tenants.models import Enterprise
    from widget import abuse
    from widget.store import get_store, key

    store = get_store()
    enterprise = Enterprise(pk=enterprise_id)
    limits = abuse.limits_for(policy=None)
    limits = abuse.Limits(**{**limits.__dict__, "enterprise_per_hour": 10**9, "enterprise_per_day": 10**9})
    done = 0
    worker = offset // 10**7
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        serial = offset + done
        number = f"+86137{serial:08d}"
        store.take(key("captcha", f"bare{serial}"))
        client_ip = f"10.{100 + worker}.{done // 250 % 250}.{done % 250}"
        now_ms = int(time.time() * 1000)
        abuse.admit(limits=limits, enterprise=enterprise, number=number, client_ip=client_ip, now_ms=now_ms)
        done += 1
    return done


def _bare(bench_db: str, enterprise_id: int, processes: int, seconds: float) -> tuple[float, float]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        db_jobs = [(bench_db, enterprise_id, seconds, i * 10**7) for i in range(processes)]
        db_done = sum(pool.map(_bare_db_worker, db_jobs))
        redis_done = sum(pool.map(_bare_redis_worker, [(enterprise_id, seconds, i * 10**7) for i in range(processes)]))
    return db_done / seconds, redis_done / seconds


# -- main ------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, default=16, help="connections in the closed loop")
    parser.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 1) * 2), help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    options = parser.parse_args()

    admin_db, bench_db, bench_redis = _urls()
    _database_recreate(admin_db)
    _redis_claim(bench_redis)
    env = _environment(bench_db, bench_redis)
    os.environ.update(env)  # this process sets up the tenant and runs the bare half against the same stores
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    budget = int(options.duration * 2500) + 2000
    key, captchas = _setup_data(budget)
    from tenants.models import Enterprise

    enterprise_id = Enterprise.objects.get(public_key=key).pk
    try:
        rate = _web(options, env, key, captchas)
        bare_db, bare_redis = _bare(bench_db, enterprise_id, options.workers, options.duration / 2)
        print(f"  bare, {options.workers} processes, same run:")
        db_line = f"PostgreSQL, number lock + in-flight count + INSERTs, one transaction: {bare_db:8.1f}/s"
        redis_line = f"Redis, captcha GETDEL + admission script:                        {bare_redis:8.1f}/s"
        print(f"    {db_line}   web/bare {rate / bare_db:.2f}")
        print(f"    {redis_line}   web/bare {rate / bare_redis:.2f}")
    finally:
        import redis

        redis.Redis.from_url(bench_redis).flushdb()  # the queued placing tasks and the bench's counters
        if not options.keep:
            from django.db import connections

            connections.close_all()
            _database_drop(admin_db)
    return 0


def _web(options: argparse.Namespace, env: dict[str, str], key: str, captchas: list[tuple[str, str]]) -> float:
    from callback.models import CallbackRequest

    port = _free_port()
    server = _gunicorn(env, port, options)
    try:
        load = Load(port, key, captchas)
        for _ in range(100):  # until gunicorn listens
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        load.run(2.0, concurrency=options.concurrency)  # warm-up: connections, caches
        workers = _workers_of(server.pid)
        cpu_before, busy_before = _cpu_seconds(workers), _machine_busy()
        start = time.perf_counter()
        peak = load.run(options.duration, concurrency=options.concurrency)
        rate, statuses, latency = _summary(peak, time.perf_counter() - start)
        cpu_used, busy_after = _cpu_seconds(workers) - cpu_before, _machine_busy()
        half = rate / 2
        steady = load.run(options.duration, rate=half)
        half_rate, half_statuses, half_latency = _summary(steady, options.duration)
    finally:
        server.terminate()
        server.wait(timeout=30)
    kind = f"{options.worker_class} workers" + (f" × {options.threads} threads" if options.threads > 1 else "")
    print(f"\nwidget submit endpoint, gunicorn {options.workers} {kind}, {os.cpu_count()} CPUs")
    print(f"  closed loop, {options.concurrency} connections: {rate:8.1f} accepted/s   statuses {statuses}")
    print("    latency ms  " + "  ".join(f"{k} {v:6.1f}" for k, v in latency.items()))
    print(f"  open loop at half that rate ({half:.0f}/s): {half_rate:8.1f} accepted/s   statuses {half_statuses}")
    print("    latency ms  " + "  ".join(f"{k} {v:6.1f}" for k, v in half_latency.items()))
    accepted = statuses.get(201, 0) or 1
    machine = (busy_after[0] - busy_before[0]) / max(1.0, busy_after[1] - busy_before[1])
    print(
        f"  web workers' CPU per accepted submission: {cpu_used / accepted * 1000:.1f} ms;"
        f" machine busy during the closed loop: {machine:.0%} of {os.cpu_count()} CPUs"
    )
    print(f"  load generator's CPU per request: {load.cpu_per_request * 1000:.2f} ms (same machine)")
    print(f"  callback requests created: {CallbackRequest.objects.count()} (= every 201)")
    target_met = rate >= 500 and half_latency["p99"] <= 50
    print(f"  target (≥ 500 accepted/s, p99 ≤ 50 ms at half rate): {'met' if target_met else 'NOT met'}", flush=True)
    return rate


def _database_drop(admin_db: str) -> None:
    import psycopg2

    connection = psycopg2.connect(admin_db)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    connection.close()


if __name__ == "__main__":
    sys.exit(main())
