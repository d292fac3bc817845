"""Abuse protection for the public widget: limits, automatic blacklisting, pumping detection, the abuse log.

Lifecycle of a submission's checks (widget.services.submission_create runs them in this order)::

    blacklists (number, client) ─> enterprise suspended? (billing suspends it on short-call pumping, S7)
      ─> daily spend cap (billing, S4) ─> [per-number lock] duplicate / in flight ─> admit: every rate limit

Limits (RELIABILITY.md S1, S2, per enterprise) are counted in the store (Redis) by one Lua script per
submission: all counters have room and all count, or none counts (S5). Each refusal by a limit is a strike
against the number or the client; ``ABUSE_STRIKES_BEFORE_BLOCK`` strikes within the window blacklist it,
for ``ABUSE_TEMPORARY_BLOCK_HOURS`` the first time and until an operator lifts it after that.

Every refusal is written to the abuse log (``AbuseEvent``), at most once per code and client every few
seconds so that a flood of refusals cannot flood the database.
"""

import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest

from tenants.models import Enterprise
from widget.errors import Refusal, WidgetRefusal
from widget.models import AbuseEvent, BlacklistEntry, WidgetPolicy
from widget.store import Counter, get_store, key

logger = logging.getLogger(__name__)

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
_LOG_REPEAT_SECONDS = 10


@dataclass(frozen=True)
class Limits:
    number_max_in_flight: int
    number_per_10_minutes: int
    number_per_day: int
    client_per_minute: int
    client_per_hour: int
    client_numbers_per_hour: int
    client_numbers_per_day: int
    enterprise_per_hour: int
    enterprise_per_day: int


def limits_for(*, policy: WidgetPolicy | None) -> Limits:
    """The operator's defaults from the settings (S1–S2), overridden by the tenant's policy where it says so."""
    values = {}
    for field in fields(Limits):
        override = getattr(policy, field.name, None) if policy is not None else None
        values[field.name] = override if override is not None else getattr(settings, f"ABUSE_{field.name.upper()}")
    return Limits(**values)


@dataclass(frozen=True)
class Visitor:
    """Who is submitting, as far as the web server can tell."""

    client_ip: str
    origin: str
    user_agent: str


def client_ip_of(request: HttpRequest) -> str:
    """The visitor's address: REMOTE_ADDR, or the address our own proxies put in X-Forwarded-For."""
    address = request.META.get("REMOTE_ADDR", "")
    hops = int(settings.WIDGET_TRUSTED_PROXY_COUNT)
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return "0.0.0.0"


def _counters(*, limits: Limits, enterprise: Enterprise, number: str, client_ip: str, token: str) -> list[Counter]:
    """The counters one submission is checked against, in the order their refusals are reported."""
    return [
        Counter(key("n10m", number), limits.number_per_10_minutes, 10 * MINUTE_MS, token),
        Counter(key("nday", number), limits.number_per_day, DAY_MS, token),
        Counter(key("cmin", client_ip), limits.client_per_minute, MINUTE_MS, token),
        Counter(key("chour", client_ip), limits.client_per_hour, HOUR_MS, token),
        Counter(key("cnumh", client_ip), limits.client_numbers_per_hour, HOUR_MS, number, distinct=True),
        Counter(key("cnumd", client_ip), limits.client_numbers_per_day, DAY_MS, number, distinct=True),
        Counter(key("ehour", str(enterprise.pk)), limits.enterprise_per_hour, HOUR_MS, token),
        Counter(key("eday", str(enterprise.pk)), limits.enterprise_per_day, DAY_MS, token),
    ]


_COUNTER_REFUSALS = [
    Refusal.NUMBER_LIMIT_10_MINUTES,
    Refusal.NUMBER_LIMIT_DAY,
    Refusal.CLIENT_LIMIT_MINUTE,
    Refusal.CLIENT_LIMIT_HOUR,
    Refusal.CLIENT_NUMBERS_LIMIT_HOUR,
    Refusal.CLIENT_NUMBERS_LIMIT_DAY,
    Refusal.ENTERPRISE_LIMIT_HOUR,
    Refusal.ENTERPRISE_LIMIT_DAY,
]
_NUMBER_STRIKES = {Refusal.NUMBER_LIMIT_10_MINUTES, Refusal.NUMBER_LIMIT_DAY, Refusal.NUMBER_IN_FLIGHT}
_CLIENT_STRIKES = {
    Refusal.CLIENT_LIMIT_MINUTE,
    Refusal.CLIENT_LIMIT_HOUR,
    Refusal.CLIENT_NUMBERS_LIMIT_HOUR,
    Refusal.CLIENT_NUMBERS_LIMIT_DAY,
    Refusal.SPAM_SUSPECTED,
    Refusal.CAPTCHA_INVALID,
    Refusal.CAPTCHA_LIMIT,
}


@dataclass(frozen=True)
class Admitted:
    """What ``admit`` counted, so that a submission that fails afterwards can give it back."""

    counters: list[Counter]

    def refund(self) -> None:
        get_store().refund(self.counters)


def admit(*, limits: Limits, enterprise: Enterprise, number: str, client_ip: str, now_ms: int) -> Admitted:
    """Count one submission in every limit, or refuse it (naming the first full limit) and count nothing."""
    counters = _counters(
        limits=limits, enterprise=enterprise, number=number, client_ip=client_ip, token=secrets.token_hex(8)
    )
    admission = get_store().admit(counters, now_ms=now_ms)
    if admission.admitted:
        return Admitted(counters)
    assert admission.refused_by is not None
    refusal = _COUNTER_REFUSALS[admission.refused_by]
    raise WidgetRefusal(refusal, detail=f"{admission.count} within the window")


def captcha_issue_admit(*, client_ip: str, now_ms: int) -> None:
    """New captchas per client are limited too, so nobody farms them for a solving service."""
    counter = Counter(
        key("cap", client_ip), int(settings.ABUSE_CLIENT_CAPTCHAS_PER_MINUTE), MINUTE_MS, secrets.token_hex(8)
    )
    if not get_store().admit([counter], now_ms=now_ms).admitted:
        raise WidgetRefusal(Refusal.CAPTCHA_LIMIT, detail="captchas per minute")


# -- blacklists ------------------------------------------------------------------------------------------------


def _active_entries(now: datetime) -> Q:
    return Q(lifted_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


@dataclass
class _Blacklist:
    """Every active entry, as (enterprise id or None, kind, value, is_prefix) -> expires_at."""

    loaded_at: float
    entries: dict[tuple[int | None, str, str, bool], datetime | None]


# Each web process holds the active blacklist for WIDGET_CACHE_SECONDS (and drops it when it writes one):
# the submit path then checks it without a query. Temporary entries are checked against their expiry here.
_blacklist: _Blacklist | None = None


def blacklist_cache_forget() -> None:
    global _blacklist
    _blacklist = None


def _blacklist_loaded(now: datetime) -> _Blacklist:
    global _blacklist
    ttl = float(settings.WIDGET_CACHE_SECONDS)
    current = _blacklist
    if current is not None and ttl > 0 and time.monotonic() - current.loaded_at < ttl:
        return current
    rows = BlacklistEntry.objects.filter(_active_entries(now)).values_list(
        "enterprise_id", "kind", "value", "is_prefix", "expires_at"
    )
    entries: dict[tuple[int | None, str, str, bool], datetime | None] = {}
    for enterprise_id, kind, value, is_prefix, expires_at in rows:
        entry = (enterprise_id, kind, value, is_prefix)
        # Two entries for one subject: the one that lasts longer counts.
        if entry not in entries or expires_at is None or (entries[entry] and expires_at > entries[entry]):  # type: ignore[operator]
            entries[entry] = expires_at
    _blacklist = _Blacklist(loaded_at=time.monotonic(), entries=entries)
    return _blacklist


def blacklist_check(*, enterprise: Enterprise, number: str | None, client_ip: str, now: datetime) -> None:
    """Refuse a blacklisted client or number: the operator's global list or the tenant's, exact or by prefix."""
    entries = _blacklist_loaded(now).entries

    def blocked(kind: str, value: str, is_prefix: bool) -> bool:
        for scope in (None, enterprise.pk):
            if (scope, kind, value, is_prefix) in entries:
                expires_at = entries[(scope, kind, value, is_prefix)]
                if expires_at is None or expires_at > now:
                    return True
        return False

    if blocked(BlacklistEntry.Kind.CLIENT, client_ip, False):
        raise WidgetRefusal(Refusal.CLIENT_BLOCKED, detail=client_ip)
    if (
        number
        and (
            blocked(BlacklistEntry.Kind.NUMBER, number, False)
            # A prefix entry matches every number that starts with it ("+882", "+8616").
            or any(blocked(BlacklistEntry.Kind.NUMBER, number[:length], True) for length in range(2, len(number)))
        )
    ):
        raise WidgetRefusal(Refusal.NUMBER_BLOCKED, detail=number)


def strike(*, refusal: Refusal, number: str | None, client_ip: str, now: datetime) -> BlacklistEntry | None:
    """Count a refusal against the number or client it blames; block it when that was one strike too many."""
    if refusal in _NUMBER_STRIKES and number:
        kind, value = BlacklistEntry.Kind.NUMBER, number
    elif refusal in _CLIENT_STRIKES:
        kind, value = BlacklistEntry.Kind.CLIENT, client_ip
    else:
        return None
    count = get_store().strike(
        key("strikes", kind, value),
        token=secrets.token_hex(8),
        threshold=int(settings.ABUSE_STRIKES_BEFORE_BLOCK),
        window_ms=int(settings.ABUSE_STRIKE_WINDOW_SECONDS) * 1000,
        now_ms=int(now.timestamp() * 1000),
    )
    if count < int(settings.ABUSE_STRIKES_BEFORE_BLOCK):
        return None
    return _auto_block(kind=kind, value=value, refusal=refusal, now=now)


def _auto_block(*, kind: str, value: str, refusal: Refusal, now: datetime) -> BlacklistEntry:
    """Temporary the first time; permanent (until an operator lifts it) for a repeat offender."""
    repeat = BlacklistEntry.objects.filter(
        kind=kind, value=value, enterprise__isnull=True, source=BlacklistEntry.Source.AUTOMATIC
    ).exists()
    hours = int(settings.ABUSE_TEMPORARY_BLOCK_HOURS)
    entry = BlacklistEntry.objects.create(
        kind=kind,
        value=value,
        source=BlacklistEntry.Source.AUTOMATIC,
        expires_at=None if repeat else now + timedelta(hours=hours),
        reason=f"kept hitting limits ({refusal.value})",
    )
    blacklist_cache_forget()
    logger.warning("widget.abuse.blocked kind=%s value=%s permanent=%s after=%s", kind, value, repeat, refusal.value)
    return entry


# -- the abuse log ---------------------------------------------------------------------------------------------


def abuse_log(
    *,
    code: str,
    visitor: Visitor,
    enterprise: Enterprise | None = None,
    number: str = "",
    detail: str = "",
) -> AbuseEvent | None:
    """Record a refusal for the operator; repeats of one code from one client within seconds are only counted."""
    if not get_store().add_once(key("logged", code, visitor.client_ip), ttl_seconds=_LOG_REPEAT_SECONDS):
        logger.info("widget.abuse.repeat code=%s client=%s", code, visitor.client_ip)
        return None
    safe_number = "".join(ch for ch in number if ch.isprintable())[:40]
    return AbuseEvent.objects.create(
        enterprise=enterprise,
        code=code,
        number=safe_number,
        client_ip=visitor.client_ip if visitor.client_ip != "0.0.0.0" else None,
        origin="".join(ch for ch in visitor.origin if ch.isprintable())[:200],
        user_agent="".join(ch for ch in visitor.user_agent if ch.isprintable())[:200],
        detail="".join(ch for ch in detail if ch.isprintable())[:200],
    )
