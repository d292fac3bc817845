"""Callback requests made and cancelled through the REST API.

``api_callback_create`` puts a server's request through the widget's own checks (widget/), minus what only a
browser has:

    number valid and allowed for this tenant (widget.numbers: countries, number types, E.164)
      ─> blacklists, daily spend cap (widget.abuse, billing); a suspended enterprise is the engine's refusal
      ─> the widget's per-number lock { same request in flight for this tenant? return it (duplicate)
         ─> number in flight elsewhere? ─> every per-number and per-enterprise limit counted atomically
         ─> CallbackRequest (source "api") committed } ─> the engine places the call after the commit.

No captcha and no per-browser limits (RELIABILITY.md S2): the API key is the client, limited per key by
integrations.services.ratelimit; the per-client counters are keyed by the key and set out of reach. Refusals
are the widget's (same codes; HTTP statuses too, except the ones below) and are written to the widget's abuse
log with the key as the client; refusals that blame a number count as strikes against it, as from the widget.
"""

import dataclasses
import ipaddress
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from billing import services as billing_services
from callback.models import CallbackRequest
from callback.services import requests as callback_requests
from callback.statemachine import CallOrder, Event, Status, allowed_events
from integrations.errors import ErrorCode, IntegrationError
from integrations.models import ApiKey
from tenants.models import Enterprise
from widget import abuse
from widget import selectors as widget_selectors
from widget import services as widget_services
from widget.errors import Refusal, WidgetRefusal
from widget.numbers import visitor_number_check

# The widget's own per-number lock (same key), so widget and API submissions for one number are serialised.
_OUT_OF_REACH = 1_000_000_000
# The widget answers these 503 (a visitor can only come back later); to a tenant's server they are a state of
# its own account, not an outage: 409.
_API_STATUS = {Refusal.SPEND_CAP_REACHED: 409, Refusal.CALLBACKS_SUSPENDED: 409, Refusal.UNAVAILABLE: 409}


@dataclass(frozen=True)
class ApiCreated:
    request: CallbackRequest
    duplicate: bool


def _client(api_key: ApiKey) -> abuse.Visitor:
    """The widget's abuse log and counters key clients by IP address: each API key gets one of its own in
    100::/64, the discard-only IPv6 prefix (RFC 6666), so it never collides with a real visitor's."""
    address = ipaddress.IPv6Address((0x0100 << 112) | api_key.pk)
    return abuse.Visitor(client_ip=str(address), origin="api", user_agent=f"API key {api_key.prefix} {api_key.name}")


def api_callback_create(
    *,
    enterprise: Enterprise,
    visitor_number: str,
    api_key: ApiKey,
    country: str = "",
    call_at: datetime | None = None,
    now: datetime | None = None,
) -> ApiCreated:
    """Accept a callback request for ``visitor_number``, placed at once or at ``call_at`` (which must lie in the
    enterprise's working hours, as for the widget's time slots); the unfinished one for that number when there is
    one.

    Raises WidgetRefusal (the widget's codes and statuses) or the engine's CallbackRefused.
    """
    now = now or timezone.now()
    client = _client(api_key)
    number: str | None = None
    try:
        widget = widget_selectors.widget_of(enterprise=enterprise)
        number = visitor_number_check(
            typed=visitor_number, country=country or enterprise.default_country, policy=widget.number_policy
        )
        if call_at is not None:
            call_at = widget_services.call_time_allowed(enterprise=enterprise, call_at=call_at, now=now)
        abuse.blacklist_check(enterprise=enterprise, number=number, client_ip=client.client_ip, now=now)
        # A suspended enterprise (by the operator, or by billing on short-call pumping) is refused by the engine
        # below with its own code, enterprise_suspended.
        if billing_services.spend_cap_reached(enterprise=enterprise):
            raise WidgetRefusal(Refusal.SPEND_CAP_REACHED)
        limits = dataclasses.replace(
            abuse.limits_for(policy=widget.policy),
            client_per_minute=_OUT_OF_REACH,
            client_per_hour=_OUT_OF_REACH,
            client_numbers_per_hour=_OUT_OF_REACH,
            client_numbers_per_day=_OUT_OF_REACH,
        )
        admitted = widget_services.callback_admit(
            enterprise=enterprise,
            number=number,
            limits=limits,
            client_ip=client.client_ip,
            source=CallbackRequest.Source.API,
            now=now,
            not_before=call_at,
        )
    except WidgetRefusal as refusal:
        abuse.abuse_log(
            code=refusal.code, visitor=client, enterprise=enterprise, number=number or "", detail=refusal.detail
        )
        if number is not None:
            abuse.strike(refusal=refusal.refusal, number=number, client_ip=client.client_ip, now=now)
        status = _API_STATUS.get(refusal.refusal, refusal.http_status)
        raise IntegrationError(refusal.code, refusal.message, http_status=status, extra=refusal.extra) from refusal
    return ApiCreated(request=admitted.request, duplicate=admitted.duplicate)


def api_callback_cancel(*, request: CallbackRequest) -> CallbackRequest:
    """Cancel a request still waiting for its first phone; 409 when it is ringing, connected or final.

    The engine decides by compare-and-set, so a cancel racing the placement either wins (nothing rings) or
    loses and says so.
    """
    current = Status(request.status)
    if Event.CANCEL not in allowed_events(current, CallOrder(request.call_order)) or not (
        callback_requests.request_cancel(request=request)
    ):
        request.refresh_from_db()
        raise IntegrationError(
            ErrorCode.NOT_CANCELLABLE,
            _("This callback request can no longer be cancelled (status: %(status)s).") % {"status": request.status},
            http_status=409,
            extra={"status": request.status},
        )
    return request
