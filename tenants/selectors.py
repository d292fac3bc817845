"""Reads on tenants, always scoped to one enterprise."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

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


def working_hours_of(*, enterprise: Enterprise) -> QuerySet[WorkingHours]:
    return WorkingHours.objects.filter(enterprise=enterprise).order_by("weekday", "opens_at")


def holidays_of(*, enterprise: Enterprise) -> QuerySet[Holiday]:
    return Holiday.objects.filter(enterprise=enterprise).order_by("date")


def next_opening(*, enterprise: Enterprise, at: datetime) -> datetime | None:
    """The first instant at or after ``at`` when the enterprise is open, in UTC.

    ``at`` itself when it is open now; None when the schedule never opens.
    """
    zone = ZoneInfo(enterprise.time_zone)
    local = at.astimezone(zone)
    hours = list(working_hours_of(enterprise=enterprise))
    if not hours:
        return None
    closed_days = set(
        holidays_of(enterprise=enterprise)
        .filter(date__gte=local.date(), date__lte=local.date() + timedelta(days=_OPENING_SEARCH_DAYS))
        .values_list("date", flat=True)
    )
    for offset in range(_OPENING_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        if day in closed_days:
            continue
        for interval in hours:
            if interval.weekday != day.weekday():
                continue
            opens = datetime.combine(day, interval.opens_at, tzinfo=zone)
            closes = datetime.combine(day, interval.closes_at, tzinfo=zone)
            if closes <= local:
                continue
            return max(opens, local).astimezone(UTC)
    return None


def is_open(*, enterprise: Enterprise, at: datetime) -> bool:
    opening = next_opening(enterprise=enterprise, at=at)
    return opening is not None and opening <= at
