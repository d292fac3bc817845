"""Callback requests made and cancelled through the REST API.

``api_callback_create`` applies the widget's checks on the number and its abuse limits (widget/), without
the captcha a server cannot solve; the API key stands where the widget has the visitor's IP address.
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from callback.models import CallbackRequest
from callback.services import requests as callback_requests
from callback.statemachine import CallOrder, Event, Status, allowed_events
from integrations.errors import ErrorCode, IntegrationError
from integrations.models import ApiKey
from tenants.models import Enterprise


@dataclass(frozen=True)
class ApiCreated:
    request: CallbackRequest
    duplicate: bool


def api_callback_create(*, enterprise: Enterprise, visitor_number: str, api_key: ApiKey) -> ApiCreated:
    """Accept a callback request for ``visitor_number``; the unfinished one for that number when there is one."""
    request = callback_requests.callback_request_create(
        enterprise=enterprise, visitor_number=visitor_number, source=CallbackRequest.Source.API
    )
    return ApiCreated(request=request, duplicate=False)


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
