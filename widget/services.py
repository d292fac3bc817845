"""Writes of the widget: a visitor's submission, an enterprise's widget settings, blacklist entries.

Lifecycle of a submission (``submission_create``, called by the public API's submit view)::

    origin allowed? ─> fields well-formed? ─> honeypot empty? ─> chosen time (if any) in an opening, not too far
      ─> captcha solved (consumed either way)
      ─> number valid and allowed (E.164 from here on) ─> blacklists ─> enterprise suspended? (billing
      suspends it on short-call pumping, S7) ─> daily spend cap (billing, S4) ─> per-number lock {
        same request in flight for this tenant? return it (duplicate) ─> number in flight elsewhere?
        ─> every rate limit counted atomically ─> CallbackRequest + Lead committed together
      } ─> the engine places the call once the transaction has committed (or at the opening / the chosen time).

Every refusal raises WidgetRefusal, after an abuse-log entry and, for the refusals that blame a number or a
client, a strike that may blacklist it (widget.abuse). Nothing the visitor typed reaches the engine except
the E.164 number, which the engine normalises once more, and a chosen time, parsed and checked here.
"""

import logging
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import phonenumbers
from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import services as billing_services
from callback import selectors as callback_selectors
from callback.models import CallbackRequest
from callback.services.requests import CallbackRefused, RowWithRequest, callback_request_create
from huibo import prepared
from huibo.errors import ApplicationError
from tenants.models import Enterprise
from tenants.phone import InvalidPhoneNumber, normalize_e164
from widget import abuse
from widget.captcha import captcha_consume
from widget.errors import Refusal, WidgetRefusal
from widget.models import BlacklistEntry, Lead, WidgetSettings
from widget.numbers import visitor_number_check
from widget.origins import InvalidOrigin, origin_allowed, origin_normalize
from widget.selectors import Widget, call_time_open, widget_cache_forget

logger = logging.getLogger(__name__)

# How long a submission waits for its number's lock; and the advisory-lock key space of those locks.
_NUMBER_LOCK_WAIT_SECONDS = 5
_NUMBER_LOCK_SPACE = 0x57_1D_6E  # "widget"
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")
_FIELD_LIMITS = {
    "phone": 64,
    "country": 8,
    "captcha_key": 64,
    "captcha_answer": 32,
    "website": 200,
    "page_url": 2000,
    "referrer": 2000,
    "language": 35,
    "call_at": 64,
}


@dataclass(frozen=True)
class Submission:
    request: CallbackRequest
    duplicate: bool


def origin_check(*, widget: Widget, origin: str) -> None:
    if not origin_allowed(origin, list(widget.settings.allowed_origins)):
        raise WidgetRefusal(Refusal.ORIGIN_NOT_ALLOWED, detail=f"origin {origin[:100]!r}")


def _fields(data: Mapping[str, Any]) -> dict[str, str]:
    """Each known field as text within its length; anything else about the body is refused."""
    cleaned: dict[str, str] = {}
    for name, limit in _FIELD_LIMITS.items():
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > limit:
            raise WidgetRefusal(Refusal.INVALID_REQUEST, detail=f"field {name}")
        cleaned[name] = value
    return cleaned


def _plain(value: str, limit: int) -> str:
    """Free text as stored for people to read: no control characters (CR, LF, NUL, …), trimmed, cut to size."""
    if not value.isprintable():  # printable text has none (the usual case: no walk through every character)
        value = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C")
    return value.strip()[:limit]


def _web_address(value: str) -> str:
    text = _plain(value, 1000)
    try:
        return text if urlsplit(text).scheme in ("http", "https") else ""
    except ValueError:
        return ""


def _lead_fields(fields: dict[str, str], visitor: abuse.Visitor) -> dict[str, str]:
    page_url = _web_address(fields["page_url"])
    try:
        query = parse_qs(urlsplit(page_url).query) if page_url else {}
    except ValueError:
        query = {}
    language = fields["language"].strip()
    return {
        "page_url": page_url,
        "referrer": _web_address(fields["referrer"]),
        **{name: _plain((query.get(name) or [""])[0], 200) for name in _UTM},
        "user_agent": _plain(visitor.user_agent, 400),
        "language": language if _LANGUAGE_TAG.fullmatch(language) else "",
    }


_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@contextmanager
def number_lock(number: str) -> Iterator[int]:
    """A transaction that holds the number's lock (across tenants) from the duplicate check to the commit; it
    yields how many unfinished requests, across all tenants, would ring the number (callback bombing), counted
    once the lock is held.

    On PostgreSQL a transaction-scoped advisory lock: released by the commit, nothing to release by hand; the
    lock and the count go in one round trip, prepared (the count, a statement of its own, sees what committed
    before the lock was granted). The embedded demo's SQLite serialises every writing transaction already (BEGIN
    IMMEDIATE). A submission that waits longer than ``_NUMBER_LOCK_WAIT_SECONDS`` is refused.
    """
    count = callback_selectors.requests_in_flight_count_sql(visitor_number=number)
    with transaction.atomic():
        connection = transaction.get_connection()
        statements = [count]
        if connection.vendor == "postgresql":
            statements = [
                ("SELECT set_config('lock_timeout', %s, true)", [f"{_NUMBER_LOCK_WAIT_SECONDS}s"]),  # SET LOCAL
                ("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_NUMBER_LOCK_SPACE, number]),
                count,
            ]
        try:
            with connection.cursor() as cursor:
                prepared.execute_together(cursor, statements)
                (in_flight,) = cursor.fetchone()
        except OperationalError as error:  # lock_timeout: the transaction is aborted, and so is the submission
            raise WidgetRefusal(Refusal.NUMBER_IN_FLIGHT, detail="lock wait") from error
        yield int(in_flight)


def call_time_check(*, widget: Widget, value: str, now: datetime) -> datetime | None:
    """The time a visitor chose to be called (ISO 8601 with its offset), or None for "as soon as open".

    Refused unless it lies in one of the enterprise's openings that has not ended yet (a time earlier today in
    the opening under way means now) and at most ``WIDGET_CALL_AT_MAX_DAYS`` ahead.
    """
    if not value:
        return None
    try:
        call_at = datetime.fromisoformat(value)
    except ValueError:
        call_at = None
    if call_at is None or call_at.tzinfo is None:
        raise WidgetRefusal(Refusal.INVALID_REQUEST, detail="field call_at")
    return call_time_allowed(enterprise=widget.enterprise, call_at=call_at, now=now)


def call_time_allowed(*, enterprise: Enterprise, call_at: datetime, now: datetime) -> datetime:
    """``call_at`` (timezone-aware) when it lies in one of the enterprise's openings that has not ended yet and
    at most ``WIDGET_CALL_AT_MAX_DAYS`` ahead; else refused with the reason (past, closed, too_far)."""
    if call_at > now + timedelta(days=settings.WIDGET_CALL_AT_MAX_DAYS):
        reason = "too_far"
    elif not call_time_open(enterprise=enterprise, call_at=call_at, now=now):
        reason = "past" if call_at < now else "closed"
    else:
        return call_at
    raise WidgetRefusal(
        Refusal.CALL_TIME_UNAVAILABLE, detail=f"{reason} {call_at.isoformat()}", extra={"reason": reason}
    )


def submission_create(
    *, widget: Widget, data: Mapping[str, Any], visitor: abuse.Visitor, now: datetime | None = None
) -> Submission:
    """Accept a visitor's callback request from the widget, or refuse it (see the module docstring)."""
    now = now or timezone.now()
    number: str | None = None
    try:
        if not widget.settings.enabled:
            raise WidgetRefusal(Refusal.UNKNOWN_WIDGET, detail="widget disabled")
        origin_check(widget=widget, origin=visitor.origin)
        fields = _fields(data)
        if fields["website"]:
            raise WidgetRefusal(Refusal.SPAM_SUSPECTED, detail="honeypot filled")
        # Before the captcha, so that a visitor who picked a time just gone picks another with the same one.
        call_at = call_time_check(widget=widget, value=fields["call_at"], now=now)
        if not captcha_consume(captcha_key=fields["captcha_key"], answer=fields["captcha_answer"]):
            raise WidgetRefusal(Refusal.CAPTCHA_INVALID)
        number = visitor_number_check(typed=fields["phone"], country=fields["country"], policy=widget.number_policy)
        return _admit_number(widget=widget, number=number, fields=fields, visitor=visitor, now=now, call_at=call_at)
    except WidgetRefusal as refusal:
        abuse.abuse_log(
            code=refusal.code,
            visitor=visitor,
            enterprise=widget.enterprise,
            number=number or (data.get("phone") if isinstance(data.get("phone"), str) else "") or "",
            detail=refusal.detail,
        )
        blocked = abuse.strike(refusal=refusal.refusal, number=number, client_ip=visitor.client_ip, now=now)
        if blocked is not None:
            abuse.abuse_log(code="blocked_automatically", visitor=visitor, number=number or "", detail=str(blocked))
        raise


def callback_admit(
    *,
    enterprise: Enterprise,
    number: str,
    limits: abuse.Limits,
    client_ip: str,
    source: str,
    now: datetime,
    rows_with: Sequence[RowWithRequest] = (),
    not_before: datetime | None = None,
) -> Submission:
    """Admit one callback for a checked number: the widget's submit and the API's create both come here.

    In one transaction holding the number's lock: the same number already in flight for this enterprise returns
    that request; too many in flight across tenants is refused; then the Redis limits are counted and the request
    created (with ``rows_with``, the widget's lead, in the same statement), for ``not_before`` when given.
    Counters are given back if the creation fails.
    """
    admitted: abuse.Admitted | None = None
    try:
        with number_lock(number) as in_flight:
            if in_flight:
                existing = callback_selectors.request_in_flight(enterprise=enterprise, visitor_number=number)
                if existing is not None:
                    return Submission(request=existing, duplicate=True)
                if in_flight >= limits.number_max_in_flight:
                    raise WidgetRefusal(Refusal.NUMBER_IN_FLIGHT, detail=f"{in_flight} in flight")
            admitted = abuse.admit(
                limits=limits,
                enterprise=enterprise,
                number=number,
                client_ip=client_ip,
                now_ms=int(now.timestamp() * 1000),
            )
            request = callback_request_create(
                enterprise=enterprise,
                visitor_number=number,
                source=source,
                not_before=not_before,
                now=now,
                rows_with=rows_with,
            )
    except BaseException:
        if admitted is not None:  # counted, but nothing was committed: give the counts back
            admitted.refund()
        raise
    return Submission(request=request, duplicate=False)


def _admit_number(
    *,
    widget: Widget,
    number: str,
    fields: dict[str, str],
    visitor: abuse.Visitor,
    now: datetime,
    call_at: datetime | None,
) -> Submission:
    enterprise = widget.enterprise
    abuse.blacklist_check(enterprise=enterprise, number=number, client_ip=visitor.client_ip, now=now)
    if enterprise.status != Enterprise.Status.ACTIVE:
        # The operator suspended it, or billing did on short-call pumping (S7) until an operator reviews it.
        raise WidgetRefusal(Refusal.CALLBACKS_SUSPENDED, detail="enterprise suspended")
    if widget.spend_capped and billing_services.spend_cap_reached(enterprise=enterprise):
        raise WidgetRefusal(Refusal.SPEND_CAP_REACHED)
    try:
        submission = callback_admit(
            enterprise=enterprise,
            number=number,
            limits=abuse.limits_for(policy=widget.policy),
            client_ip=visitor.client_ip,
            source=CallbackRequest.Source.WIDGET,
            now=now,
            not_before=call_at,
            rows_with=[
                RowWithRequest(Lead(enterprise=enterprise, **_lead_fields(fields, visitor)), "callback_request")
            ],
        )
    except (CallbackRefused, InvalidPhoneNumber) as error:
        raise WidgetRefusal(Refusal.UNAVAILABLE, detail=f"engine: {error.code}") from error
    if submission.duplicate:
        abuse.abuse_log(code="duplicate", visitor=visitor, enterprise=enterprise, number=number)
        return submission
    request = submission.request
    logger.info(
        "widget.submission.accepted request=%s enterprise=%s",
        request.pk,
        enterprise.pk,
        extra={"correlation_id": str(request.correlation_id)},
    )
    return Submission(request=request, duplicate=False)


# -- the enterprise's settings ---------------------------------------------------------------------------------

SETTINGS_EDITABLE_FIELDS = frozenset(
    {
        "enabled",
        "primary_color",
        "text_color",
        "position",
        "language",
        "title",
        "intro",
        "button_label",
        "allowed_origins",
        "allowed_countries",
    }
)
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


class WidgetConfigError(ApplicationError):
    pass


def widget_settings_update(*, enterprise: Enterprise, **fields: Any) -> WidgetSettings:
    """Save an enterprise's widget settings, normalised (origins, countries, colours), or refuse them as a whole."""
    unknown = set(fields) - SETTINGS_EDITABLE_FIELDS
    if unknown:
        raise WidgetConfigError("unknown_field", f"Unknown fields: {', '.join(sorted(unknown))}")
    if "allowed_origins" in fields:
        try:
            fields["allowed_origins"] = sorted({origin_normalize(o) for o in fields["allowed_origins"] if o.strip()})
        except InvalidOrigin as error:
            raise WidgetConfigError(error.code, error.message) from error
    if "allowed_countries" in fields:
        countries = [c.strip().upper() for c in fields["allowed_countries"] if c.strip()]
        unknown_countries = [c for c in countries if c not in phonenumbers.SUPPORTED_REGIONS]
        if unknown_countries:
            raise WidgetConfigError(
                "unknown_country",
                _("Unknown country code: %(codes)s. Use two letters, such as CN or HK.")
                % {"codes": ", ".join(unknown_countries)},
            )
        fields["allowed_countries"] = list(dict.fromkeys(countries))
    for name in ("primary_color", "text_color"):
        if name in fields and not _COLOUR.fullmatch(str(fields[name])):
            raise WidgetConfigError("invalid_colour", _("Colours are written #rrggbb, for example #c0392b."))
    for name in ("title", "intro", "button_label"):
        if name in fields:
            fields[name] = _plain(str(fields[name]), WidgetSettings._meta.get_field(name).max_length or 200)
    with transaction.atomic():
        Enterprise.objects.select_for_update().get(pk=enterprise.pk)
        widget_settings, _created = WidgetSettings.objects.get_or_create(enterprise=enterprise)
        for name, value in fields.items():
            setattr(widget_settings, name, value)
        widget_settings.full_clean()
        widget_settings.save()
    widget_cache_forget(public_key=enterprise.public_key)
    return widget_settings


# -- blacklists ------------------------------------------------------------------------------------------------


def blacklist_add(
    *,
    enterprise: Enterprise | None,
    number: str,
    is_prefix: bool = False,
    reason: str = "",
    created_by: Any = None,
) -> BlacklistEntry:
    """Block a number (or every number starting with a prefix) for one tenant, or for all with ``enterprise=None``."""
    if is_prefix:
        digits = "".join(ch for ch in number if ch.isdigit())
        if not digits or len(digits) > 15:
            raise WidgetConfigError("invalid_prefix", _("A prefix is + and up to 15 digits, for example +8616."))
        value = f"+{digits}"
    else:
        region = enterprise.default_country if enterprise is not None else None
        value = normalize_e164(number, default_region=region)
    entry = BlacklistEntry.objects.create(
        enterprise=enterprise,
        kind=BlacklistEntry.Kind.NUMBER,
        value=value,
        is_prefix=is_prefix,
        reason=_plain(reason, 200),
        created_by=created_by,
    )
    abuse.blacklist_cache_forget()
    return entry


def blacklist_lift(*, entry: BlacklistEntry, lifted_by: Any = None, now: datetime | None = None) -> BlacklistEntry:
    """Lift an entry (kept, with who and when, for the record)."""
    BlacklistEntry.objects.filter(pk=entry.pk, lifted_at__isnull=True).update(
        lifted_at=now or timezone.now(), lifted_by=lifted_by
    )
    abuse.blacklist_cache_forget()
    entry.refresh_from_db()
    return entry
