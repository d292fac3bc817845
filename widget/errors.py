"""Every way the widget's public API can refuse, with its stable code, HTTP status and the visitor's sentence.

The sentence never says which internal check refused (no limits, no list names, no stack): only what the visitor
can do next. The operator reads the detail in the abuse log.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huibo.errors import ApplicationError


class Refusal(StrEnum):
    INVALID_REQUEST = "invalid_request"
    UNKNOWN_WIDGET = "unknown_widget"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    SPAM_SUSPECTED = "spam_suspected"  # the honeypot field was filled in
    CAPTCHA_INVALID = "captcha_invalid"  # wrong answer, unknown, used already or expired: one code, no oracle
    CAPTCHA_LIMIT = "captcha_limit"
    CALL_TIME_UNAVAILABLE = "call_time_unavailable"  # the chosen time is past, closed or too far ahead
    INVALID_PHONE_NUMBER = "invalid_phone_number"
    COUNTRY_NOT_ALLOWED = "country_not_allowed"
    INTERNATIONAL_NOT_ALLOWED = "international_not_allowed"
    NUMBER_TYPE_NOT_ALLOWED = "number_type_not_allowed"
    NUMBER_BLOCKED = "number_blocked"
    CLIENT_BLOCKED = "client_blocked"
    NUMBER_IN_FLIGHT = "number_in_flight"
    NUMBER_LIMIT_10_MINUTES = "number_limit_10_minutes"
    NUMBER_LIMIT_DAY = "number_limit_day"
    CLIENT_LIMIT_MINUTE = "client_limit_minute"
    CLIENT_LIMIT_HOUR = "client_limit_hour"
    CLIENT_NUMBERS_LIMIT_HOUR = "client_numbers_limit_hour"
    CLIENT_NUMBERS_LIMIT_DAY = "client_numbers_limit_day"
    ENTERPRISE_LIMIT_HOUR = "enterprise_limit_hour"
    ENTERPRISE_LIMIT_DAY = "enterprise_limit_day"
    SPEND_CAP_REACHED = "spend_cap_reached"
    CALLBACKS_SUSPENDED = "callbacks_suspended"
    UNAVAILABLE = "unavailable"  # the enterprise cannot take callbacks (suspended, no hours): nothing more said


_TRY_LATER = _("Too many callback requests for this number. Please try again later.")
_SLOW_DOWN = _("Too many requests from your connection. Please wait a few minutes and try again.")
_BUSY = _("We cannot take more callback requests right now. Please try again later or call us directly.")

REFUSAL_TEXT: dict[Refusal, Promise] = {
    Refusal.INVALID_REQUEST: _("Something in the form was not understood. Please reload the page and try again."),
    Refusal.UNKNOWN_WIDGET: _("This callback form is not available."),
    Refusal.ORIGIN_NOT_ALLOWED: _("This callback form is not enabled on this website."),
    Refusal.SPAM_SUSPECTED: _("Your request could not be sent. Please try again."),
    Refusal.CAPTCHA_INVALID: _("The characters did not match the picture. Please try the new picture."),
    Refusal.CAPTCHA_LIMIT: _SLOW_DOWN,
    Refusal.CALL_TIME_UNAVAILABLE: _("We cannot call you at that time. Please choose one of the times offered."),
    Refusal.INVALID_PHONE_NUMBER: _("Please check the phone number."),
    Refusal.COUNTRY_NOT_ALLOWED: _("We cannot call numbers in this country."),
    Refusal.INTERNATIONAL_NOT_ALLOWED: _("We cannot call numbers in this country."),
    Refusal.NUMBER_TYPE_NOT_ALLOWED: _("We can only call ordinary landline and mobile numbers."),
    Refusal.NUMBER_BLOCKED: _("We cannot call this number."),
    Refusal.CLIENT_BLOCKED: _("Requests from your connection are not accepted."),
    Refusal.NUMBER_IN_FLIGHT: _("A callback to this number is already under way. Please wait for it to finish."),
    Refusal.NUMBER_LIMIT_10_MINUTES: _TRY_LATER,
    Refusal.NUMBER_LIMIT_DAY: _TRY_LATER,
    Refusal.CLIENT_LIMIT_MINUTE: _SLOW_DOWN,
    Refusal.CLIENT_LIMIT_HOUR: _SLOW_DOWN,
    Refusal.CLIENT_NUMBERS_LIMIT_HOUR: _SLOW_DOWN,
    Refusal.CLIENT_NUMBERS_LIMIT_DAY: _SLOW_DOWN,
    Refusal.ENTERPRISE_LIMIT_HOUR: _BUSY,
    Refusal.ENTERPRISE_LIMIT_DAY: _BUSY,
    Refusal.SPEND_CAP_REACHED: _BUSY,
    Refusal.CALLBACKS_SUSPENDED: _BUSY,
    Refusal.UNAVAILABLE: _BUSY,
}

HTTP_STATUS: dict[Refusal, int] = {
    Refusal.INVALID_REQUEST: 400,
    Refusal.UNKNOWN_WIDGET: 404,
    Refusal.ORIGIN_NOT_ALLOWED: 403,
    Refusal.SPAM_SUSPECTED: 400,
    Refusal.CAPTCHA_INVALID: 400,
    Refusal.CAPTCHA_LIMIT: 429,
    Refusal.CALL_TIME_UNAVAILABLE: 400,
    Refusal.INVALID_PHONE_NUMBER: 400,
    Refusal.COUNTRY_NOT_ALLOWED: 400,
    Refusal.INTERNATIONAL_NOT_ALLOWED: 400,
    Refusal.NUMBER_TYPE_NOT_ALLOWED: 400,
    Refusal.NUMBER_BLOCKED: 403,
    Refusal.CLIENT_BLOCKED: 403,
    Refusal.NUMBER_IN_FLIGHT: 409,
    Refusal.NUMBER_LIMIT_10_MINUTES: 429,
    Refusal.NUMBER_LIMIT_DAY: 429,
    Refusal.CLIENT_LIMIT_MINUTE: 429,
    Refusal.CLIENT_LIMIT_HOUR: 429,
    Refusal.CLIENT_NUMBERS_LIMIT_HOUR: 429,
    Refusal.CLIENT_NUMBERS_LIMIT_DAY: 429,
    Refusal.ENTERPRISE_LIMIT_HOUR: 429,
    Refusal.ENTERPRISE_LIMIT_DAY: 429,
    Refusal.SPEND_CAP_REACHED: 503,
    Refusal.CALLBACKS_SUSPENDED: 503,
    Refusal.UNAVAILABLE: 503,
}


class WidgetRefusal(ApplicationError):
    """A refused widget call: ``code`` for the API, ``message`` for the visitor, ``detail`` for the abuse log only."""

    def __init__(self, refusal: Refusal, *, detail: str = "", extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(refusal.value, REFUSAL_TEXT[refusal], extra=extra)
        self.refusal = refusal
        self.detail = detail

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.refusal]

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (Celery, multiprocessing): rebuilt from the refusal, with the detail as state.
        return (self.__class__, (self.refusal,), {"detail": self.detail, "extra": self.extra})
