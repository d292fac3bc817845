"""E.164 normalisation with phonenumbers: every number Huibo stores or dials passes here."""

import phonenumbers
from django.utils.translation import gettext as _

from huibo.errors import ApplicationError


class InvalidPhoneNumber(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_phone_number", message)


def normalize_e164(raw: str, *, default_region: str | None = None) -> str:
    """Return ``raw`` as E.164 (``+8613800001005``) or raise InvalidPhoneNumber saying why."""
    text = (raw or "").strip()
    if text in _found_valid:
        return text
    return e164_of(parse_valid(text, default_region=default_region))


def parse_valid(raw: str, *, default_region: str | None = None) -> phonenumbers.PhoneNumber:
    """``raw`` parsed, or InvalidPhoneNumber saying why it is not a valid number."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber(_("Enter a phone number."))
    if len(text) > 32:
        raise InvalidPhoneNumber(_("This phone number is too long."))
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidPhoneNumber(_("Add the country code, for example +86.")) from exc
        raise InvalidPhoneNumber(_("This is not a phone number.")) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber(_("This number has the wrong length for its country."))
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(_("This number does not exist in its country's numbering plan."))
    return parsed


def e164_of(valid: phonenumbers.PhoneNumber) -> str:
    """The E.164 form of a number ``parse_valid`` gave."""
    e164: str = phonenumbers.format_number(valid, phonenumbers.PhoneNumberFormat.E164)
    if len(_found_valid) >= _FOUND_VALID_KEPT:
        _found_valid.clear()
    _found_valid.add(e164)
    return e164


# E.164 numbers this process has found valid: a widget submission's number is checked by the widget and again by
# the engine, and parsing is a tenth of the submission's CPU. Validity does not change while the process runs.
_found_valid: set[str] = set()
_FOUND_VALID_KEPT = 10_000


def dial_digits(e164: str) -> str:
    """The digits Asterisk dials for an E.164 number: no '+', nothing else."""
    return "".join(ch for ch in e164 if ch.isdigit())
