"""Prometheus metrics for a service that runs as several processes in several containers.

Why not prometheus_client's own counters: web (gunicorn, several workers), the Celery worker and the AMI
listener are separate processes, in production separate containers, and only web answers /metrics. An
in-process counter in the listener would never be seen; prometheus_client's multiprocess mode aggregates
per-pid files in one shared directory, which containers do not share (and whose pids collide: every
container numbers its processes from 1). So:

* **events** (a callback moved, a leg ended, a webhook was delivered, an HTTP request was answered) are
  counted where they happen with one pipelined ``HINCRBY`` / ``HINCRBYFLOAT`` in the Redis every process
  already uses, and histograms are kept the same way as per-bucket counts plus a sum. Redis makes the
  increments atomic across processes and keeps them across restarts of any one process (a web process sums
  its HTTP requests for up to a second first: one round trip a second, not one per request);
* **state** (requests waiting or on the line, node AMI state, queue depths, pending webhook deliveries,
  worker heartbeats) is read from PostgreSQL and Redis at scrape time by a custom collector, so it is
  never stale and costs nothing between scrapes.

Recording never raises and never waits long: a short socket timeout, and a breaker that stops trying for a
few seconds after a failure, because the engine's listener thread records callback metrics and must never
stall behind a monitoring write. On the embedded default (no Redis) events are kept in process memory: the
demo's /metrics then shows what the web process itself saw, plus all the scrape-time state.
"""

import atexit
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from integrations import redis_store

logger = logging.getLogger(__name__)

_LABEL_SEPARATOR = "\x1f"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CALL_SETUP_BUCKETS = (1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0)
CALL_DURATION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class CounterSpec:
    name: str  # without the _total suffix
    documentation: str
    labelnames: tuple[str, ...]


@dataclass(frozen=True)
class HistogramSpec:
    name: str
    documentation: str
    labelnames: tuple[str, ...]
    buckets: tuple[float, ...]


HTTP_REQUESTS = CounterSpec(
    "huibo_http_requests", "HTTP requests answered by web, by route pattern.", ("method", "route", "status")
)
HTTP_LATENCY = HistogramSpec(
    "huibo_http_request_duration_seconds", "Time web took to answer, by route.", ("method", "route"), LATENCY_BUCKETS
)
API_RATE_LIMITED = CounterSpec("huibo_api_rate_limited", "API requests refused by a key's rate limit.", ())
CALLBACK_TRANSITIONS = CounterSpec(
    "huibo_callback_transitions",
    "Moves of callback requests through the state machine.",
    ("event", "to_status", "reason"),
)
CALLBACK_SETUP = HistogramSpec(
    "huibo_callback_time_to_connect_seconds",
    "From the request accepted to both legs bridged.",
    (),
    CALL_SETUP_BUCKETS,
)
CALLBACK_TALK = HistogramSpec(
    "huibo_callback_talk_duration_seconds", "Connected time of completed callbacks.", (), CALL_DURATION_BUCKETS
)
LEG_OUTCOMES = CounterSpec(
    "huibo_callback_leg_outcomes", "Ended call legs (one CDR each), by role and disposition.", ("role", "disposition")
)
BILLABLE_SECONDS = CounterSpec(
    "huibo_billing_billable_seconds", "Billable (answered) seconds recorded in CDRs, by leg.", ("role",)
)
# For monitoring only (a float in Prometheus); the money itself is Decimal in billing's ledger.
BILLING_CHARGED = CounterSpec(
    "huibo_billing_charged_minor_units",
    "Charges rated on CDRs, in hundredths of the account's currency (money never passes through a float).",
    ("currency",),
)
WEBHOOK_DELIVERIES = CounterSpec(
    "huibo_webhook_delivery_attempts", "Webhook POSTs, by event type and result.", ("event", "result")
)
WEBHOOK_LATENCY = HistogramSpec(
    "huibo_webhook_delivery_duration_seconds", "Time a receiver took to answer a webhook POST.", (), LATENCY_BUCKETS
)

COUNTERS: tuple[CounterSpec, ...] = (
    HTTP_REQUESTS,
    API_RATE_LIMITED,
    CALLBACK_TRANSITIONS,
    LEG_OUTCOMES,
    BILLABLE_SECONDS,
    BILLING_CHARGED,
    WEBHOOK_DELIVERIES,
)
HISTOGRAMS: tuple[HistogramSpec, ...] = (HTTP_LATENCY, CALLBACK_SETUP, CALLBACK_TALK, WEBHOOK_LATENCY)


def _labels_field(values: Sequence[str]) -> str:
    return _LABEL_SEPARATOR.join(values)


def _labels_from(field: str, count: int) -> list[str]:
    return field.split(_LABEL_SEPARATOR) if count else []


def _bucket_index(buckets: tuple[float, ...], value: float) -> int:
    for index, upper in enumerate(buckets):
        if value <= upper:
            return index
    return len(buckets)  # +Inf


class _MemoryBackend:
    """Process-local stand-in for Redis on the embedded default."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashes: dict[str, dict[str, float]] = {}

    def add(self, increments: Iterable[tuple[str, str, float]]) -> None:
        with self._lock:
            for hash_name, field, amount in increments:
                table = self._hashes.setdefault(hash_name, {})
                table[field] = table.get(field, 0.0) + amount

    def read(self, hash_name: str) -> dict[str, float]:
        with self._lock:
            return dict(self._hashes.get(hash_name, {}))


_memory = _MemoryBackend()
_breaker = redis_store.Breaker()


def _hash_name(metric: str) -> str:
    return redis_store.key("metrics", metric)


# Per thread: the increments held by an open ``batched()`` block, or None.
_held = threading.local()


@contextmanager
def batched() -> Iterator[None]:
    """Hold what this thread records inside the block and send it in one round trip when the block ends
    (nothing if it raised). The AMI listener applies a batch of moves in one transaction: one write for their
    metrics after it, instead of one per move inside it."""
    if getattr(_held, "increments", None) is not None:
        yield  # nested: the outer block sends
        return
    _held.increments = {}
    try:
        yield
        increments, _held.increments = _held.increments, None
    except BaseException:
        _held.increments = None
        raise
    if increments:
        _record_totals(increments)


def _sum_into(totals: dict[tuple[str, str], float], increments: Iterable[tuple[str, str, float]]) -> None:
    for hash_name, field, amount in increments:
        totals[(hash_name, field)] = totals.get((hash_name, field), 0.0) + amount


def _record_totals(totals: dict[tuple[str, str], float]) -> None:
    _record([(hash_name, field, amount) for (hash_name, field), amount in totals.items()])


def _record(increments: list[tuple[str, str, float]]) -> None:
    held: dict[tuple[str, str], float] | None = getattr(_held, "increments", None)
    if held is not None:
        _sum_into(held, increments)
        return
    client = redis_store.client()
    if client is None:
        _memory.add(increments)
        return
    if _breaker.is_open:
        return
    try:
        with client.pipeline(transaction=False) as pipe:
            for hash_name, field, amount in increments:
                # Float increments throughout: a field that was once given a fraction (a sum) refuses HINCRBY.
                pipe.hincrbyfloat(hash_name, field, amount)
            pipe.execute()
    except redis.RedisError as error:
        if _breaker.trip():
            logger.warning("integrations.metrics.redis_unavailable error=%s", error)


def increment(spec: CounterSpec, labels: Sequence[str] = (), amount: float = 1) -> None:
    """Count an event. Never raises."""
    try:
        _record([(_hash_name(spec.name), _labels_field(labels), amount)])
    except Exception:  # a metric must never break the call or request that records it
        logger.exception("integrations.metrics.record_failed metric=%s", spec.name)


def observe(spec: HistogramSpec, value: float, labels: Sequence[str] = ()) -> None:
    """Add one observation to a histogram. Never raises."""
    if math.isnan(value):
        return
    field = _labels_field(labels)
    try:
        _record(
            [
                (_hash_name(spec.name), f"{field}|{_bucket_index(spec.buckets, value)}", 1),
                (_hash_name(spec.name), f"{field}|sum", value),
            ]
        )
    except Exception:
        logger.exception("integrations.metrics.record_failed metric=%s", spec.name)


class _Tally:
    """Increments summed in this process and sent in one round trip every ``interval`` seconds, by a thread of
    its own, at exit, and when this process answers a scrape.

    For what is counted hundreds of times a second per process (a web worker's requests): a round trip to Redis
    per request was a tenth of the CPU of a widget submission. A crash loses at most ``interval`` of counts.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # gunicorn forks its workers: each sums and sends its own

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], float] = {}
        self._sender: threading.Thread | None = None

    def add(self, increments: Iterable[tuple[str, str, float]]) -> None:
        with self._lock:
            _sum_into(self._pending, increments)
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_forever, name="metrics-tally", daemon=True)
                self._sender.start()
                atexit.register(self.flush)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if pending:
            _record_totals(pending)

    def _send_forever(self) -> None:
        while True:
            time.sleep(self._interval)
            try:
                self.flush()
            except Exception:
                logger.exception("integrations.metrics.flush_failed")


_http_tally = _Tally(interval=1.0)


def record_http_request(*, method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency (sent within a second, see ``_Tally``). Never raises."""
    labels = _labels_field((method, route))
    try:
        _http_tally.add(
            [
                (_hash_name(HTTP_REQUESTS.name), _labels_field((method, route, str(status))), 1),
                (_hash_name(HTTP_LATENCY.name), f"{labels}|{_bucket_index(HTTP_LATENCY.buckets, seconds)}", 1),
                (_hash_name(HTTP_LATENCY.name), f"{labels}|sum", seconds),
            ]
        )
    except Exception:
        logger.exception("integrations.metrics.record_failed metric=%s", HTTP_REQUESTS.name)


def _read(metric: str) -> dict[str, float]:
    client = redis_store.client()
    if client is None:
        return _memory.read(_hash_name(metric))
    return {field: float(value) for field, value in client.hgetall(_hash_name(metric)).items()}


def _counter_family(spec: CounterSpec) -> CounterMetricFamily:
    family = CounterMetricFamily(spec.name, spec.documentation, labels=list(spec.labelnames))
    for field, value in sorted(_read(spec.name).items()):
        family.add_metric(_labels_from(field, len(spec.labelnames)), value)
    return family


def _histogram_family(spec: HistogramSpec) -> HistogramMetricFamily:
    family = HistogramMetricFamily(spec.name, spec.documentation, labels=list(spec.labelnames))
    series: dict[str, dict[str, float]] = {}
    for field, value in _read(spec.name).items():
        labels, _sep, part = field.rpartition("|")
        series.setdefault(labels, {})[part] = value
    for labels, parts in sorted(series.items()):
        cumulative = 0.0
        buckets: list[tuple[str, float]] = []
        for index, upper in enumerate((*spec.buckets, math.inf)):
            cumulative += parts.get(str(index), 0.0)
            buckets.append(("+Inf" if math.isinf(upper) else repr(upper), cumulative))
        family.add_metric(_labels_from(labels, len(spec.labelnames)), buckets, parts.get("sum", 0.0))
    return family


class HuiboCollector(Collector):
    """Everything /metrics shows: event counters and histograms from Redis, state read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        from integrations import selectors  # the ORM is only ready once apps are loaded

        _http_tally.flush()  # what this process counted shows in its own scrape at once
        try:
            for counter in COUNTERS:
                yield _counter_family(counter)
            for histogram in HISTOGRAMS:
                yield _histogram_family(histogram)
        except redis.RedisError as error:
            logger.warning("integrations.metrics.read_failed error=%s", error)
        yield from _state_families(selectors.operations_snapshot())


def _state_families(snapshot: "selectors.OperationsSnapshot") -> Iterator[Metric]:  # noqa: F821
    in_flight = GaugeMetricFamily(
        "huibo_callback_requests_in_flight", "Callback requests not yet final, by status.", labels=["status"]
    )
    for status, count in sorted(snapshot.requests_by_status.items()):
        in_flight.add_metric([status], count)
    yield in_flight
    node_up = GaugeMetricFamily(
        "huibo_asterisk_node_up", "1 while the listener's AMI link to the node is logged in.", labels=["node"]
    )
    node_changed = GaugeMetricFamily(
        "huibo_asterisk_node_state_changed_timestamp_seconds",
        "When the node's AMI link last went up or down (Unix time).",
        labels=["node", "state"],
    )
    node_calls = GaugeMetricFamily("huibo_asterisk_node_live_calls", "Callbacks on the node now.", labels=["node"])
    node_capacity = GaugeMetricFamily(
        "huibo_asterisk_node_capacity", "Callbacks the node may carry at once.", labels=["node"]
    )
    for node in snapshot.nodes:
        node_up.add_metric([node.name], 1.0 if node.ami_state == "up" else 0.0)
        if node.state_changed_at is not None:
            node_changed.add_metric([node.name, node.ami_state], node.state_changed_at.timestamp())
        node_calls.add_metric([node.name], node.live_calls)
        node_capacity.add_metric([node.name], node.capacity)
    yield from (node_up, node_changed, node_calls, node_capacity)
    queues = GaugeMetricFamily("huibo_celery_queue_depth", "Tasks waiting in a Celery queue.", labels=["queue"])
    for queue_name, depth in sorted(snapshot.queue_depths.items()):
        queues.add_metric([queue_name], depth)
    yield queues
    yield GaugeMetricFamily(
        "huibo_webhook_deliveries_pending", "Webhook deliveries not yet delivered nor given up.", value=snapshot.pending
    )
    heartbeat = GaugeMetricFamily(
        "huibo_worker_heartbeat_age_seconds", "Seconds since a worker last ran the heartbeat task.", labels=["queue"]
    )
    for queue_name, age in sorted(snapshot.heartbeat_ages.items()):
        if age is not None:
            heartbeat.add_metric([queue_name], age)
    yield heartbeat
