"""Which visitor numbers the widget accepts: deny by default (RELIABILITY.md S3).

A number passes only if it is a valid fixed-line or mobile number of one of the tenant's allowed countries.
Premium-rate, shared-cost, toll-free, VoIP, personal, pager, UAN and voicemail-access numbers and the
non-geographic ranges (satellite, international networks, +800/+808/+979) are refused unless the operator
allows that type for the tenant; numbers outside the enterprise's own country are refused unless the operator
allows international calls for it. What the visitor typed is checked character by character before
phonenumbers sees it, and only the E.164 form ever leaves this module.
"""

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from django.utils.translation import gettext_lazy as _
from phonenumbers import PhoneNumberType

from tenants.phone import InvalidPhoneNumber, e164_of, parse_valid
from widget.errors import Refusal, WidgetRefusal

# Digits, spaces and the punctuation people write numbers with; nothing else (no letters, no CR/LF, no ":").
_TYPED_NUMBER = re.compile(r"[0-9+\-(). ]{3,32}")
_COUNTRY = re.compile(r"[A-Z]{2}")
NON_GEOGRAPHIC_REGION = "001"

ALWAYS_ALLOWED = frozenset({PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
# Type name -> phonenumbers type; "satellite" stands for every non-geographic (+8xx, +979) range.
OPTIONAL_NUMBER_TYPES: dict[str, tuple[int | None, object]] = {
    "toll_free": (PhoneNumberType.TOLL_FREE, _("Toll-free")),
    "premium_rate": (PhoneNumberType.PREMIUM_RATE, _("Premium rate")),
    "shared_cost": (PhoneNumberType.SHARED_COST, _("Shared cost")),
    "voip": (PhoneNumberType.VOIP, _("VoIP")),
    "personal_number": (PhoneNumberType.PERSONAL_NUMBER, _("Personal number")),
    "pager": (PhoneNumberType.PAGER, _("Pager")),
    "uan": (PhoneNumberType.UAN, _("Universal access number (UAN)")),
    "voicemail": (PhoneNumberType.VOICEMAIL, _("Voicemail access")),
    "satellite": (None, _("Satellite and other non-geographic numbers")),
}
_TYPE_NAMES = {number_type: name for name, (number_type, _label) in OPTIONAL_NUMBER_TYPES.items() if number_type}


@dataclass(frozen=True)
class NumberPolicy:
    default_country: str
    countries: tuple[str, ...]  # what the visitor may pick, the default country first
    allow_international: bool
    extra_types: frozenset[str]


def effective_countries(*, default_country: str, allowed: list[str], allow_international: bool) -> tuple[str, ...]:
    """The countries a visitor may call from: the enterprise's list, cut to its own country unless international."""
    chosen = [code for code in allowed if code in phonenumbers.SUPPORTED_REGIONS] or [default_country]
    if not allow_international:
        chosen = [default_country]
    ordered = [default_country] if default_country in chosen else []
    return tuple(ordered + [code for code in chosen if code != default_country])


def calling_code(country: str) -> int:
    return phonenumbers.country_code_for_region(country)


def number_type_name(number: phonenumbers.PhoneNumber) -> str:
    if phonenumbers.region_code_for_number(number) == NON_GEOGRAPHIC_REGION:
        return "satellite"
    number_type = phonenumbers.number_type(number)
    if number_type in ALWAYS_ALLOWED:
        return "fixed_or_mobile"
    return _TYPE_NAMES.get(number_type, "unknown")


def visitor_number_check(*, typed: object, country: object, policy: NumberPolicy) -> str:
    """The E.164 form of what the visitor typed, or WidgetRefusal saying which rule refused it."""
    if not isinstance(typed, str) or not isinstance(country, str):
        raise WidgetRefusal(Refusal.INVALID_PHONE_NUMBER, detail="not text")
    text = unicodedata.normalize("NFKC", typed).strip()  # full-width digits (１３９…) become ASCII
    region = unicodedata.normalize("NFKC", country).strip().upper()
    if not _TYPED_NUMBER.fullmatch(text) or not _COUNTRY.fullmatch(region):
        raise WidgetRefusal(Refusal.INVALID_PHONE_NUMBER, detail="characters")
    if region not in policy.countries:
        raise WidgetRefusal(Refusal.COUNTRY_NOT_ALLOWED, detail=f"picked {region}")
    try:
        parsed = parse_valid(text, default_region=region)
    except InvalidPhoneNumber as error:
        raise WidgetRefusal(Refusal.INVALID_PHONE_NUMBER, detail=str(error.message)[:100]) from error
    e164 = e164_of(parsed)
    kind = number_type_name(parsed)
    if kind != "fixed_or_mobile" and kind not in policy.extra_types:
        raise WidgetRefusal(Refusal.NUMBER_TYPE_NOT_ALLOWED, detail=f"{kind} {e164}")
    number_region = phonenumbers.region_code_for_number(parsed)
    if number_region != policy.default_country and not policy.allow_international:
        raise WidgetRefusal(Refusal.INTERNATIONAL_NOT_ALLOWED, detail=f"{number_region} {e164}")
    if number_region not in policy.countries and number_region != NON_GEOGRAPHIC_REGION:
        raise WidgetRefusal(Refusal.COUNTRY_NOT_ALLOWED, detail=f"{number_region} {e164}")
    return e164
