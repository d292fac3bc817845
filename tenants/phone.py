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
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def dial_digits(e164: str) -> str:
    """The digits Asterisk dials for an E.164 number: no '+', nothing else."""
    return "".join(ch for ch in e164 if ch.isdigit())
