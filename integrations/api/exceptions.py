"""The one DRF exception handler: every refusal the API makes is ``{"code", "message", "extra"}``.

ApplicationError (any app's) keeps its code; its HTTP status is its ``http_status`` when it has one, else
the table below, else 400. DRF's own errors (authentication, validation, throttling, 404) get the same shape.
Anything else is a bug: it is left to Django, which logs it and answers 500.
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response

from huibo.errors import ApplicationError

# Refusals from other apps' services that are not the client's input being wrong.
STATUS_BY_CODE = {
    "enterprise_suspended": status.HTTP_409_CONFLICT,
    "no_working_hours": status.HTTP_409_CONFLICT,
    "not_cancellable": status.HTTP_409_CONFLICT,
}


def _status_of(error: ApplicationError) -> int:
    for attribute in ("http_status", "status_code", "status"):
        value = getattr(error, attribute, None)
        if isinstance(value, int) and 400 <= value < 600:
            return value
    return STATUS_BY_CODE.get(error.code, status.HTTP_400_BAD_REQUEST)


def _code_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        response = Response(exc.as_dict(), status=_status_of(exc))
        retry_after = exc.extra.get("retry_after")
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    extra: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        message = _("Some fields are not valid.")
        extra["fields"] = exc.detail
    else:
        message = str(exc.detail)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        extra["retry_after"] = int(exc.wait)
    response = Response({"code": _code_of(exc), "message": message, "extra": extra}, status=exc.status_code)
    if getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None) is not None:
        response["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    return response
