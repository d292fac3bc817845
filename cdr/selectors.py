"""Reads on CDRs and calls. Portal selectors take the enterprise as a required argument; the console's say so."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from billing.money import ZERO, quantize_money
from cdr.models import CallDetailRecord, CallSummary, RecordingSetting
from huibo import prepared
from tenants.models import Enterprise

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class CdrFilter:
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    leg: str = ""
    disposition: str = ""
    number: str = ""
    enterprise_id: int | None = None  # the console's filter; ignored by the portal's selectors


def _filtered(cdrs: QuerySet[CallDetailRecord], filters: CdrFilter, zone: ZoneInfo) -> QuerySet[CallDetailRecord]:
    if filters.date_from:
        cdrs = cdrs.filter(started_at__gte=datetime.combine(filters.date_from, time(0), tzinfo=zone))
    if filters.date_to:
        cdrs = cdrs.filter(started_at__lt=datetime.combine(filters.date_to + timedelta(days=1), time(0), tzinfo=zone))
    if filters.leg:
        cdrs = cdrs.filter(role=filters.leg)
    if filters.disposition:
        cdrs = cdrs.filter(disposition=filters.disposition)
    if filters.number:
        cdrs = cdrs.filter(number__contains=filters.number.strip())
    return cdrs.order_by("-started_at", "-id")


def cdrs_of(*, enterprise: Enterprise, filters: CdrFilter | None = None) -> QuerySet[CallDetailRecord]:
    cdrs = CallDetailRecord.objects.filter(enterprise=enterprise)
    return _filtered(cdrs, filters or CdrFilter(), ZoneInfo(enterprise.time_zone))


def all_cdrs(*, filters: CdrFilter | None = None) -> QuerySet[CallDetailRecord]:
    """The operator's view: every tenant's CDRs (console only)."""
    filters = filters or CdrFilter()
    cdrs = CallDetailRecord.objects.select_related("enterprise")
    if filters.enterprise_id:
        cdrs = cdrs.filter(enterprise_id=filters.enterprise_id)
    # Newest written first: the primary key orders every tenant's records without an index of its own.
    return _filtered(cdrs, filters, ZoneInfo("UTC")).order_by("-id")


def recordings_of(*, enterprise: Enterprise) -> QuerySet[CallSummary]:
    return CallSummary.objects.filter(enterprise=enterprise).exclude(recording_file="").order_by("-placed_at")


def recording_of(*, enterprise: Enterprise, pk: int) -> CallSummary | None:
    return recordings_of(enterprise=enterprise).filter(pk=pk).first()


def any_recording(*, pk: int) -> CallSummary | None:
    """The operator's access to any tenant's recording (console only)."""
    return CallSummary.objects.exclude(recording_file="").filter(pk=pk).first()


def recording_setting_of(*, enterprise: Enterprise) -> RecordingSetting:
    return RecordingSetting.objects.filter(enterprise=enterprise).first() or RecordingSetting(enterprise=enterprise)


def recording_enabled(*, enterprise: Enterprise) -> bool:
    """For the engine: set the channel variable HUIBO_RECORD=1 on the Originate when this is True."""
    # A plain statement: the engine asks for every call it places.
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            f"SELECT 1 FROM {RecordingSetting._meta.db_table} WHERE enterprise_id = %s AND enabled",
            [enterprise.pk],
        )
        return cursor.fetchone() is not None


def recording_notice(*, enterprise: Enterprise) -> str | None:
    """For the widget: the notice to show visitors before they press Call, or None when calls are not recorded."""
    setting = RecordingSetting.objects.filter(enterprise=enterprise, enabled=True).first()
    if setting is None:
        return None
    from django.utils.translation import gettext

    return setting.notice or gettext("Calls may be recorded for quality and training.")


# --- the dashboard ------------------------------------------------------------------------------------------------


def _seconds(delay: timedelta | None) -> Decimal | None:
    """A delay in seconds to one decimal place, for people (integer arithmetic: no float)."""
    if delay is None:
        return None
    return (Decimal(delay // timedelta(milliseconds=100)) / 10).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class Percentiles:
    p50: timedelta | None
    p90: timedelta | None

    @property
    def p50_seconds(self) -> Decimal | None:
        return _seconds(self.p50)

    @property
    def p90_seconds(self) -> Decimal | None:
        return _seconds(self.p90)


@dataclass(frozen=True)
class DayCount:
    day: date
    calls: int
    connected: int


@dataclass(frozen=True)
class Dashboard:
    calls_today: int
    calls_month: int
    connected_month: int
    answer_rate: Decimal | None  # percent of callbacks (requests) that connected this month
    failed_by_leg: dict[str, int]
    to_ringing: Percentiles  # the visitor's click to the first leg ringing
    to_connected: Percentiles  # the visitor's click to both legs talking
    billed_minutes: Decimal
    spend: Decimal
    currency: str
    days: list[DayCount] = field(default_factory=list)

    @property
    def busiest_day(self) -> int:
        return max((day.calls for day in self.days), default=0)


def _percentiles(summaries: QuerySet[CallSummary], end_field: str) -> Percentiles:
    rows = summaries.filter(**{f"{end_field}__isnull": False, "requested_at__isnull": False}).values_list(
        "requested_at", end_field
    )
    delays = sorted(end - start for start, end in rows)
    if not delays:
        return Percentiles(None, None)

    def at(share: int) -> timedelta:
        # nearest rank: the smallest delay with at least share % of the calls at or below it
        rank = max(1, -(-share * len(delays) // 100))
        return delays[rank - 1]

    return Percentiles(at(50), at(90))


def dashboard_of(*, enterprise: Enterprise, now: datetime) -> Dashboard:
    """Today's and this month's callbacks, answer rate, which leg failed, delays, minutes and spend."""
    zone = ZoneInfo(enterprise.time_zone)
    local = now.astimezone(zone)
    today = datetime.combine(local.date(), time(0), tzinfo=zone)
    month = datetime.combine(local.date().replace(day=1), time(0), tzinfo=zone)
    summaries = CallSummary.objects.filter(enterprise=enterprise, placed_at__gte=month)
    requests = summaries.values("callback_request_id").distinct()
    connected_requests = summaries.filter(connected=True).values("callback_request_id").distinct().count()
    calls_month = requests.count()
    failed = dict(
        summaries.filter(connected=False)
        .values_list("failed_leg")
        .annotate(n=Count("id"))
        .values_list("failed_leg", "n")
    )
    legs = CallDetailRecord.objects.filter(enterprise=enterprise, started_at__gte=month).aggregate(
        seconds=Sum("billed_seconds"), spend=Sum("charge")
    )
    days = [
        DayCount(row["day"], row["calls"], row["n_connected"])
        for row in summaries.annotate(day=TruncDate("placed_at", tzinfo=zone))
        .values("day")
        .annotate(calls=Count("callback_request_id", distinct=True), n_connected=Count("id", filter=Q(connected=True)))
        .order_by("day")
    ]
    currency = summaries.exclude(currency="").values_list("currency", flat=True).first() or ""
    return Dashboard(
        calls_today=summaries.filter(placed_at__gte=today).values("callback_request_id").distinct().count(),
        calls_month=calls_month,
        connected_month=connected_requests,
        answer_rate=(Decimal(connected_requests) * _HUNDRED / calls_month).quantize(Decimal("0.1"))
        if calls_month
        else None,
        failed_by_leg={key or "none": value for key, value in failed.items()},
        to_ringing=_percentiles(summaries, "placed_at"),
        to_connected=_percentiles(summaries, "connected_at"),
        billed_minutes=(Decimal(legs["seconds"] or 0) / 60).quantize(Decimal("0.01")),
        spend=quantize_money(legs["spend"] or ZERO),  # (SQLite sums REAL: back to the money precision)
        currency=currency,
        days=days,
    )


# --- the operator's statistics: ASR and ACD -----------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficRow:
    name: str
    calls: int
    connected: int
    asr: Decimal | None  # answer-seizure ratio, percent of calls that connected
    acd: Decimal | None  # average connected call duration, seconds


def traffic_by(*, group: str, since: datetime) -> list[TrafficRow]:
    """ASR and ACD per tenant (``group="enterprise"``) or per Asterisk node (``group="node"``), console only."""
    key = "enterprise__name" if group == "enterprise" else "node_name"
    rows = (
        CallSummary.objects.filter(placed_at__gte=since)
        .values(key)
        .annotate(
            n_calls=Count("id"),
            n_connected=Count("id", filter=Q(connected=True)),
            talk=Sum("talk_seconds", filter=Q(connected=True)),
        )
        .order_by(key)
    )
    return [
        TrafficRow(
            name=row[key],
            calls=row["n_calls"],
            connected=row["n_connected"],
            asr=(Decimal(row["n_connected"]) * _HUNDRED / row["n_calls"]).quantize(Decimal("0.1")),
            acd=(Decimal(row["talk"]) / row["n_connected"]).quantize(Decimal("0.1")) if row["n_connected"] else None,
        )
        for row in rows
    ]
