"""Writes on tenants: enterprises, bound numbers, working hours.

Every function validates completely before it writes and writes inside one
transaction, so a refused change leaves nothing half-saved. The invariant
they keep together: an active enterprise always has at least one enabled
bound number and at least one opening interval, so its hunting strategy
always has somewhere to ring.
"""

from dataclasses import dataclass
from datetime import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from huibo.errors import ApplicationError
from tenants import selectors
from tenants.models import BoundNumber, Enterprise, Holiday, WorkingHours
from tenants.phone import normalize_e164

ENTERPRISE_EDITABLE_FIELDS = frozenset(
    {
        "name",
        "status",
        "time_zone",
        "default_country",
        "caller_id",
        "call_order",
        "hunting_strategy",
        "ring_timeout_seconds",
        "max_concurrent_calls",
        "sticky_routing",
        "agent_confirmation",
        "visitor_retries",
        "visitor_retry_spacing_seconds",
    }
)


class TenantConfigError(ApplicationError):
    pass


@dataclass(frozen=True)
class OpeningInterval:
    weekday: int
    opens_at: time
    closes_at: time


def _model_errors_to_message(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return " ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)


def _full_clean(instance: Any, **kwargs: Any) -> None:
    try:
        instance.full_clean(**kwargs)
    except ValidationError as exc:
        raise TenantConfigError("invalid", _model_errors_to_message(exc)) from exc


def _ensure_dialable(enterprise: Enterprise) -> None:
    """Refuse to leave an active enterprise with nowhere to ring."""
    if enterprise.status != Enterprise.Status.ACTIVE:
        return
    if not enterprise.bound_numbers.filter(enabled=True).exists():
        raise TenantConfigError(
            "no_enabled_number",
            _("An active enterprise needs at least one enabled bound number for its hunting strategy."),
        )


def enterprise_create(*, name: str, slug: str, time_zone: str = "Asia/Shanghai", **fields: Any) -> Enterprise:
    """Create an enterprise. It starts suspended until it has a bound number, unless told otherwise."""
    unknown = set(fields) - ENTERPRISE_EDITABLE_FIELDS
    if unknown:
        raise TenantConfigError("unknown_field", f"Unknown fields: {', '.join(sorted(unknown))}")
    fields.setdefault("status", Enterprise.Status.SUSPENDED)
    if fields.get("caller_id"):
        fields["caller_id"] = normalize_e164(fields["caller_id"], default_region=fields.get("default_country", "CN"))
    enterprise = Enterprise(name=name, slug=slug, time_zone=time_zone, **fields)
    _full_clean(enterprise)
    with transaction.atomic():
        enterprise.save()
        _ensure_dialable(enterprise)
    return enterprise


def enterprise_update(*, enterprise: Enterprise, **fields: Any) -> Enterprise:
    """Change an enterprise's settings; refused as a whole if any value is invalid."""
    unknown = set(fields) - ENTERPRISE_EDITABLE_FIELDS
    if unknown:
        raise TenantConfigError("unknown_field", f"Unknown fields: {', '.join(sorted(unknown))}")
    if fields.get("caller_id"):
        region = fields.get("default_country", enterprise.default_country)
        fields["caller_id"] = normalize_e164(fields["caller_id"], default_region=region)
    with transaction.atomic():
        locked = Enterprise.objects.select_for_update().get(pk=enterprise.pk)
        for key, value in fields.items():
            setattr(locked, key, value)
        _full_clean(locked)
        _ensure_dialable(locked)
        locked.save()
    enterprise.refresh_from_db()
    return enterprise


def bound_number_create(
    *,
    enterprise: Enterprise,
    number: str,
    label: str = "",
    priority: int = 1,
    enabled: bool = True,
    ring_timeout_seconds: int | None = None,
) -> BoundNumber:
    e164 = normalize_e164(number, default_region=enterprise.default_country)
    bound = BoundNumber(
        enterprise=enterprise,
        number=e164,
        label=label,
        priority=priority,
        enabled=enabled,
        ring_timeout_seconds=ring_timeout_seconds,
    )
    _full_clean(bound, validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            bound.save()
    except IntegrityError as exc:
        raise TenantConfigError("duplicate_number", _("%(number)s is already bound.") % {"number": e164}) from exc
    return bound


def bound_number_update(*, bound_number: BoundNumber, **fields: Any) -> BoundNumber:
    allowed = {"number", "label", "priority", "enabled", "ring_timeout_seconds"}
    unknown = set(fields) - allowed
    if unknown:
        raise TenantConfigError("unknown_field", f"Unknown fields: {', '.join(sorted(unknown))}")
    enterprise = bound_number.enterprise
    if "number" in fields:
        fields["number"] = normalize_e164(fields["number"], default_region=enterprise.default_country)
    try:
        with transaction.atomic():
            Enterprise.objects.select_for_update().get(pk=enterprise.pk)
            locked = BoundNumber.objects.select_for_update().get(pk=bound_number.pk)
            for key, value in fields.items():
                setattr(locked, key, value)
            _full_clean(locked, validate_unique=False, validate_constraints=False)
            locked.save()
            _ensure_dialable(enterprise)
    except IntegrityError as exc:
        raise TenantConfigError(
            "duplicate_number", _("%(number)s is already bound.") % {"number": fields.get("number")}
        ) from exc
    bound_number.refresh_from_db()
    return bound_number


def bound_number_delete(*, bound_number: BoundNumber) -> None:
    with transaction.atomic():
        enterprise = Enterprise.objects.select_for_update().get(pk=bound_number.enterprise_id)
        bound_number.delete()
        _ensure_dialable(enterprise)


def validate_intervals(intervals: list[OpeningInterval]) -> None:
    """Refuse empty or overlapping intervals, and an empty week, with a message naming the day."""
    if not intervals:
        raise TenantConfigError("no_working_hours", _("Give at least one opening interval in the week."))
    by_day: dict[int, list[OpeningInterval]] = {}
    for interval in intervals:
        if interval.weekday not in WorkingHours.Weekday.values:
            raise TenantConfigError("invalid_weekday", _("Unknown weekday."))
        if interval.opens_at >= interval.closes_at:
            raise TenantConfigError(
                "empty_interval",
                _("%(day)s: the opening time %(opens)s must be before the closing time %(closes)s.")
                % {
                    "day": WorkingHours.Weekday(interval.weekday).label,
                    "opens": interval.opens_at.strftime("%H:%M"),
                    "closes": interval.closes_at.strftime("%H:%M"),
                },
            )
        by_day.setdefault(interval.weekday, []).append(interval)
    for weekday, day_intervals in by_day.items():
        ordered = sorted(day_intervals, key=lambda i: i.opens_at)
        for earlier, later in zip(ordered, ordered[1:], strict=False):
            if later.opens_at < earlier.closes_at:
                raise TenantConfigError(
                    "overlapping_hours",
                    _("%(day)s: %(a)s and %(b)s overlap.")
                    % {
                        "day": WorkingHours.Weekday(weekday).label,
                        "a": f"{earlier.opens_at:%H:%M}–{earlier.closes_at:%H:%M}",
                        "b": f"{later.opens_at:%H:%M}–{later.closes_at:%H:%M}",
                    },
                )


def working_hours_replace(*, enterprise: Enterprise, intervals: list[OpeningInterval]) -> list[WorkingHours]:
    """Replace the weekly schedule as a whole, or refuse it as a whole."""
    validate_intervals(intervals)
    with transaction.atomic():
        Enterprise.objects.select_for_update().get(pk=enterprise.pk)
        WorkingHours.objects.filter(enterprise=enterprise).delete()
        hours = WorkingHours.objects.bulk_create(
            WorkingHours(enterprise=enterprise, weekday=i.weekday, opens_at=i.opens_at, closes_at=i.closes_at)
            for i in sorted(intervals, key=lambda i: (i.weekday, i.opens_at))
        )
    selectors.opening_schedule_forget(enterprise=enterprise)
    return hours


def holiday_add(*, enterprise: Enterprise, date: Any, name: str = "") -> Holiday:
    holiday, _created = Holiday.objects.get_or_create(enterprise=enterprise, date=date, defaults={"name": name})
    selectors.opening_schedule_forget(enterprise=enterprise)
    return holiday


def holiday_remove(*, enterprise: Enterprise, holiday_id: int) -> None:
    Holiday.objects.filter(enterprise=enterprise, pk=holiday_id).delete()
    selectors.opening_schedule_forget(enterprise=enterprise)
