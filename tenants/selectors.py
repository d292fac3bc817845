"""Reads on tenants, always scoped to one enterprise."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic as time_monotonic
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import QuerySet

from huibo import prepared
from tenants.models import BoundNumber, Enterprise, Holiday, Membership, WorkingHours

# How far ahead to look for the next opening before concluding there is none
# (a year of holidays is the worst case an operator can configure).
_OPENING_SEARCH_DAYS = 400


def membership_for_user(*, user: AbstractBaseUser | AnonymousUser) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.select_related("enterprise").filter(user=user).first()


def bound_numbers_of(*, enterprise: Enterprise, enabled_only: bool = False) -> QuerySet[BoundNumber]:
    qs = BoundNumber.objects.filter(enterprise=enterprise).order_by("priority", "id")
    return qs.filter(enabled=True) if enabled_only else qs


def numbers_to_dial(*, enterprise: Enterprise) -> list[tuple[int, str, int]]:
    """For each enabled bound number, in hunting priority: its id, its E.164 number and how long it rings.

    One plain statement: the engine reads this for every call it places.
    """
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            f"SELECT id, number, ring_timeout_seconds FROM {BoundNumber._meta.db_table}"
            " WHERE enterprise_id = %s AND enabled ORDER BY priority, id",
            [enterprise.pk],
        )
        return [(pk, number, ring or enterprise.ring_timeout_seconds) for pk, number, ring in cursor.fetchall()]


def working_hours_of(*, enterprise: Enterprise) -> QuerySet[WorkingHours]:
    return WorkingHours.objects.filter(enterprise=enterprise).order_by("weekday", "opens_at")


def holidays_of(*, enterprise: Enterprise) -> QuerySet[Holiday]:
    return Holiday.objects.filter(enterprise=enterprise).order_by("date")


@dataclass(frozen=True)
class Opening:
    """One opening interval, in UTC."""

    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True)
class OpeningSchedule:
    """An enterprise's weekly hours and holidays: enough to say when it is open without a query."""

    zone: ZoneInfo
    week: tuple[tuple[int, time, time], ...]  # (weekday, opens_at, closes_at), by weekday and opening time
    holidays: frozenset[date]

    def openings(self, *, at: datetime) -> Iterator[Opening]:
        """The opening intervals that end after ``at``, in order; one open at ``at`` starts at ``at``."""
        if not self.week:
            return
        local = at.astimezone(self.zone)
        for offset in range(_OPENING_SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for weekday, opens_at, closes_at in self.week:
                if weekday != day.weekday():
                    continue
                closes = datetime.combine(day, closes_at, tzinfo=self.zone)
                if closes <= local:
                    continue
                opens = max(datetime.combine(day, opens_at, tzinfo=self.zone), local)
                yield Opening(opens.astimezone(UTC), closes.astimezone(UTC))


# Each process keeps an enterprise's schedule for TENANTS_SCHEDULE_CACHE_SECONDS: every accepted callback asks
# for it, and the services that change hours or holidays drop it here at once (other processes within the TTL).
_SCHEDULES: dict[tuple[int, str], tuple[float, OpeningSchedule]] = {}
_SCHEDULES_MAX = 10_000


def opening_schedule_of(*, enterprise: Enterprise) -> OpeningSchedule:
    ttl = float(settings.TENANTS_SCHEDULE_CACHE_SECONDS)
    cache_key = (enterprise.pk, enterprise.time_zone)
    cached = _SCHEDULES.get(cache_key) if ttl > 0 else None
    if cached is not None and cached[0] > time_monotonic():
        return cached[1]
    schedule = OpeningSchedule(
        zone=ZoneInfo(enterprise.time_zone),
        week=tuple(working_hours_of(enterprise=enterprise).values_list("weekday", "opens_at", "closes_at")),
        holidays=frozenset(holidays_of(enterprise=enterprise).values_list("date", flat=True)),
    )
    if ttl > 0:
        if len(_SCHEDULES) >= _SCHEDULES_MAX:
            _SCHEDULES.clear()
        _SCHEDULES[cache_key] = (time_monotonic() + ttl, schedule)
    return schedule


def opening_schedule_forget(*, enterprise: Enterprise) -> None:
    """Drop this process's cached schedule of the enterprise after a change made here."""
    for cache_key in [k for k in _SCHEDULES if k[0] == enterprise.pk]:
        _SCHEDULES.pop(cache_key, None)


def next_opening(*, enterprise: Enterprise, at: datetime) -> datetime | None:
    """The first instant at or after ``at`` when the enterprise is open, in UTC.

    ``at`` itself when it is open now; None when the schedule never opens.
    """
    first = next(opening_schedule_of(enterprise=enterprise).openings(at=at), None)
    return first.opens_at if first is not None else None


def is_open(*, enterprise: Enterprise, at: datetime) -> bool:
    opening = next_opening(enterprise=enterprise, at=at)
    return opening is not None and opening <= at
