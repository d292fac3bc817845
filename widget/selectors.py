"""Reads for the widget: a tenant's widget by its public key, a visitor's view of their request, leads, lists.

Everything the portal reads is scoped by ``enterprise``; the public API reaches a tenant only through its
public key, and a request only through the pair (public key, request's public id).
"""

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from billing import selectors as billing_selectors
from callback import selectors as callback_selectors
from callback.models import CallbackRequest
from callback.reasons import reason_text
from callback.statemachine import Status
from tenants import selectors as tenant_selectors
from tenants.models import Enterprise
from tenants.selectors import Opening
from widget.models import AbuseEvent, BlacklistEntry, Lead, WidgetPolicy, WidgetSettings
from widget.numbers import NumberPolicy, effective_countries


@dataclass(frozen=True)
class Widget:
    """One tenant's widget: its enterprise, its looks (defaults until saved) and the operator's policy."""

    enterprise: Enterprise
    settings: WidgetSettings
    policy: WidgetPolicy | None
    # Only a tenant with a daily spend cap needs billing's check at submit (the engine enforces it exactly).
    spend_capped: bool

    @property
    def number_policy(self) -> NumberPolicy:
        allow_international = bool(self.policy and self.policy.allow_international)
        return NumberPolicy(
            default_country=self.enterprise.default_country,
            countries=effective_countries(
                default_country=self.enterprise.default_country,
                allowed=list(self.settings.allowed_countries),
                allow_international=allow_international,
            ),
            allow_international=allow_international,
            extra_types=frozenset(self.policy.allowed_number_types if self.policy else ()),
        )


def _widget_of(enterprise: Enterprise) -> Widget:
    try:
        widget_settings = enterprise.widget_settings
    except ObjectDoesNotExist:
        widget_settings = WidgetSettings(enterprise=enterprise)
    try:
        policy: WidgetPolicy | None = enterprise.widget_policy
    except ObjectDoesNotExist:
        policy = None
    account = billing_selectors.account_of(enterprise=enterprise)
    return Widget(
        enterprise=enterprise,
        settings=widget_settings,
        policy=policy,
        spend_capped=account is not None and account.daily_spend_cap is not None,
    )


# Each web process keeps the widgets it served for WIDGET_CACHE_SECONDS: the submit path is the hot one, and a
# changed setting (or a suspension) taking a few seconds to reach every process is harmless.
_WIDGETS: dict[str, tuple[float, Widget]] = {}
_WIDGETS_MAX = 10_000


def widget_by_public_key(*, public_key: str) -> Widget | None:
    """The widget behind a snippet's key (two queries, or none when cached); None for an unknown key."""
    if not public_key or len(public_key) > 40:
        return None
    ttl = float(settings.WIDGET_CACHE_SECONDS)
    cached = _WIDGETS.get(public_key) if ttl > 0 else None
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    enterprise = (
        Enterprise.objects.select_related("widget_settings", "widget_policy").filter(public_key=public_key).first()
    )
    if enterprise is None:
        return None
    widget = _widget_of(enterprise)
    if ttl > 0:
        if len(_WIDGETS) >= _WIDGETS_MAX:
            _WIDGETS.clear()
        _WIDGETS[public_key] = (time.monotonic() + ttl, widget)
    return widget


def widget_cache_forget(*, public_key: str | None = None) -> None:
    """Drop this process's cached widget (all of them without a key) after a change made here."""
    if public_key is None:
        _WIDGETS.clear()
    else:
        _WIDGETS.pop(public_key, None)


def widget_of(*, enterprise: Enterprise) -> Widget:
    fresh = Enterprise.objects.select_related("widget_settings", "widget_policy").get(pk=enterprise.pk)
    return _widget_of(fresh)


def next_openings(*, enterprise: Enterprise, at: datetime, count: int = 3) -> list[Opening]:
    """The next ``count`` opening intervals from ``at`` (the current one first, if open now), in UTC."""
    return list(islice(tenant_selectors.opening_schedule_of(enterprise=enterprise).openings(at=at), count))


# The times the widget offers a visitor outside working hours: each opening's start, then every hour of it.
CALL_SLOT_COUNT = 6
_CALL_SLOT_STEP = timedelta(hours=1)


def call_slots(*, enterprise: Enterprise, at: datetime) -> list[datetime]:
    """The next ``CALL_SLOT_COUNT`` times to offer within the horizon (``WIDGET_CALL_AT_MAX_DAYS``), in UTC."""
    horizon = at + timedelta(days=settings.WIDGET_CALL_AT_MAX_DAYS)
    slots: list[datetime] = []
    for opening in tenant_selectors.opening_schedule_of(enterprise=enterprise).openings(at=at):
        slot = opening.opens_at
        while slot < opening.closes_at and slot <= horizon:
            slots.append(slot)
            if len(slots) == CALL_SLOT_COUNT:
                return slots
            slot += _CALL_SLOT_STEP
        if opening.opens_at > horizon:
            break
    return slots


def call_time_open(*, enterprise: Enterprise, call_at: datetime, now: datetime) -> bool:
    """Whether the enterprise is open at ``call_at`` in an opening that has not ended by ``now``."""
    opening = next(tenant_selectors.opening_schedule_of(enterprise=enterprise).openings(at=call_at), None)
    return opening is not None and opening.opens_at == call_at and opening.closes_at > now


# -- what a visitor sees of their request ----------------------------------------------------------------------

# Reasons a visitor may read as they are; anything else (nodes, Asterisk, billing, configuration) is internal
# and is shown as "service_unavailable".
_PUBLIC_REASONS = {
    "outside_working_hours",
    "time_chosen",
    "all_lines_busy",
    "visitor_retry",
    "visitor_hung_up",
    "enterprise_hung_up",
    "max_duration_reached",
    "enterprise_busy",
    "enterprise_no_answer",
    "enterprise_unreachable",
    "enterprise_declined",
    "enterprise_hung_up_early",
    "visitor_busy",
    "visitor_no_answer",
    "visitor_unreachable",
    "waited_too_long",
    "cancelled",
}
_VISITOR_REASONS = {"visitor_busy", "visitor_no_answer", "visitor_unreachable"}
_REASON_FOR_VISITOR = {
    "outside_working_hours": _("We are closed now."),
    "time_chosen": _("We will call you at the time you chose."),
    "all_lines_busy": _("All our lines are busy."),
    "visitor_retry": _("You did not answer."),
    "visitor_hung_up": _("You ended the call."),
    "enterprise_hung_up": _("Our team ended the call."),
    "max_duration_reached": _("The call reached its time limit."),
    "enterprise_busy": _("Our team is busy on other calls."),
    "enterprise_no_answer": _("Nobody in our team could answer."),
    "enterprise_unreachable": _("Our team could not be reached."),
    "enterprise_declined": _("Our team could not take the call."),
    "enterprise_hung_up_early": _("Our team hung up before you answered."),
    "visitor_busy": _("Your line was busy."),
    "visitor_no_answer": _("You did not answer."),
    "visitor_unreachable": _("Your number could not be reached."),
    "waited_too_long": _("No line became free in time."),
    "cancelled": _("The request was cancelled."),
    "service_unavailable": _("A technical problem stopped the call."),
}


@dataclass(frozen=True)
class VisitorStatus:
    """A request as its visitor may see it: a phase the widget words, a public reason, a time, nothing internal."""

    public_id: str
    phase: str
    status: str
    reason_code: str
    reason: str
    final: bool
    due_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "request_id": self.public_id,
            "phase": self.phase,
            "status": self.status,
            "reason_code": self.reason_code,
            "reason": self.reason,
            "final": self.final,
            "due_at": self.due_at.isoformat() if self.due_at else None,
        }


def _phase(status: Status, reason: str, enterprise_first: bool) -> str:
    calling_first = "calling_team" if enterprise_first else "calling_you"
    calling_second = "calling_you" if enterprise_first else "calling_team"
    phases = {
        Status.ACCEPTED: calling_first,
        Status.DIALING_ENTERPRISE: "calling_team",
        Status.DIALING_VISITOR: "calling_you",
        Status.ENTERPRISE_ANSWERED: calling_second,
        Status.VISITOR_ANSWERED: calling_second,
        Status.CONNECTED: "connected",
        Status.COMPLETED: "completed",
        Status.CANCELLED: "cancelled",
        Status.EXPIRED: "expired",
    }
    if status is Status.SCHEDULED:
        phase_of_reason = {
            "outside_working_hours": "scheduled",
            "time_chosen": "scheduled",
            "visitor_retry": "retry_later",
        }
        return phase_of_reason.get(reason, "team_busy")
    if status is Status.FAILED:
        return "not_reached" if reason in _VISITOR_REASONS else "failed"
    return phases[status]


def visitor_status(*, widget: Widget, public_id: str) -> VisitorStatus | None:
    """The status of the tenant's request with this public id; None for anything else (another tenant's too)."""
    request = callback_selectors.request_by_public_id(public_id=public_id)
    if request is None or request.enterprise_id != widget.enterprise.pk:
        return None
    return visitor_status_of(request=request)


def visitor_status_of(*, request: CallbackRequest) -> VisitorStatus:
    public = callback_selectors.request_public_status(request=request)
    status = Status(public.status)
    code = public.reason_code if public.reason_code in _PUBLIC_REASONS else ""
    if public.reason_code and not code:
        code = "service_unavailable"
    waiting = status is Status.SCHEDULED
    text = _REASON_FOR_VISITOR.get(code) or (reason_text(code) if code else "")
    return VisitorStatus(
        public_id=str(request.correlation_id),
        phase=_phase(status, code, request.call_order == Enterprise.CallOrder.ENTERPRISE_FIRST),
        status=status.value,
        reason_code=code,
        reason=str(text),
        final=public.is_final,
        due_at=public.due_at if waiting else None,
    )


# -- portal reads ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadFilter:
    status: str = ""
    utm_source: str = ""
    utm_campaign: str = ""
    number: str = ""
    date_from: date | None = None
    date_to: date | None = None


def leads_of(*, enterprise: Enterprise, filters: LeadFilter | None = None) -> QuerySet[Lead]:
    """The tenant's leads with their request, newest first, narrowed by ``filters``."""
    qs = Lead.objects.filter(enterprise=enterprise).select_related("callback_request").order_by("-created_at", "-id")
    f = filters or LeadFilter()
    if f.status:
        qs = qs.filter(callback_request__status=f.status)
    if f.utm_source:
        qs = qs.filter(utm_source__iexact=f.utm_source)
    if f.utm_campaign:
        qs = qs.filter(utm_campaign__iexact=f.utm_campaign)
    if f.number:
        qs = qs.filter(callback_request__visitor_number__contains="".join(ch for ch in f.number if ch.isdigit()))
    zone = ZoneInfo(enterprise.time_zone)
    if f.date_from:
        qs = qs.filter(created_at__gte=datetime.combine(f.date_from, datetime.min.time(), tzinfo=zone))
    if f.date_to:
        qs = qs.filter(created_at__lt=datetime.combine(f.date_to + timedelta(days=1), datetime.min.time(), tzinfo=zone))
    return qs


def blacklist_of(*, enterprise: Enterprise, now: datetime) -> QuerySet[BlacklistEntry]:
    """The tenant's own blacklist entries still in force (the operator's global list is not shown)."""
    return BlacklistEntry.objects.filter(enterprise=enterprise, lifted_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def abuse_events_of(*, enterprise: Enterprise) -> QuerySet[AbuseEvent]:
    return AbuseEvent.objects.filter(enterprise=enterprise).order_by("-created_at", "-id")
