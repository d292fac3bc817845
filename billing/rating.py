"""Rating: what one leg of a call costs. Pure functions, no ORM, no I/O (tested against a reference model, B1).

A tariff is a price per minute, a billing increment written the trade's way (``first/next``: ``60/60`` bills whole
minutes, ``30/6`` a first block of 30 s then 6-second blocks, ``6/6`` and ``1/1`` likewise), a connection fee and a
minimum charge. An answered leg costs

    max(minimum charge, connection fee + price per minute × billed seconds / 60)

rounded half up to the stored precision, where billed seconds are 0 for 0 s, the first block for anything up to
it, then the first block plus whole further blocks. An unanswered leg is free when the plan says so (the default);
otherwise it costs the connection fee alone. Which tariff applies to a number is the longest matching prefix, then
the number's type (mobile, fixed line, international), each preferring a rate for the leg's own role over one for
any leg.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

import phonenumbers

from billing.money import ZERO, quantize_money

_INCREMENT = re.compile(r"^\s*(\d{1,4})\s*/\s*(\d{1,4})\s*$")
_SECONDS_PER_MINUTE = 60


class NumberType(StrEnum):
    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    INTERNATIONAL = "international"


class LegRole(StrEnum):
    ENTERPRISE = "enterprise"
    VISITOR = "visitor"
    ANY = "any"


class InvalidIncrement(ValueError):
    pass


@dataclass(frozen=True)
class Increment:
    """A billing increment: the first block, then each further block, in seconds."""

    first: int
    next: int

    @classmethod
    def parse(cls, text: str) -> "Increment":
        match = _INCREMENT.match(text)
        if match is None:
            raise InvalidIncrement(f"not an increment like 6/6, 30/6 or 60/60: {text!r}")
        first, following = int(match.group(1)), int(match.group(2))
        if first < 1 or following < 1:
            raise InvalidIncrement(f"blocks must be at least one second: {text!r}")
        return cls(first, following)

    def __str__(self) -> str:
        return f"{self.first}/{self.next}"


@dataclass(frozen=True)
class Tariff:
    price_per_minute: Decimal
    increment: Increment
    connection_fee: Decimal = ZERO
    minimum_charge: Decimal = ZERO
    destination_group: str = ""


@dataclass(frozen=True)
class LegCharge:
    billed_seconds: int
    amount: Decimal


def billed_seconds(seconds: int, increment: Increment) -> int:
    """The seconds a leg is billed for: 0, the first block, or the first block plus whole further blocks."""
    if seconds <= 0:
        return 0
    if seconds <= increment.first:
        return increment.first
    further = seconds - increment.first
    blocks = -(-further // increment.next)  # ceiling division on integers: no float
    return increment.first + blocks * increment.next


def rate_leg(*, tariff: Tariff, seconds: int, answered: bool, unanswered_free: bool = True) -> LegCharge:
    """What one leg costs: ``seconds`` are its billable (answered) seconds."""
    if not answered:
        if unanswered_free:
            return LegCharge(0, quantize_money(ZERO))
        return LegCharge(0, quantize_money(tariff.connection_fee))
    billed = billed_seconds(seconds, tariff.increment)
    amount = tariff.connection_fee + tariff.price_per_minute * billed / _SECONDS_PER_MINUTE
    return LegCharge(billed, quantize_money(max(amount, tariff.minimum_charge)))


@dataclass(frozen=True)
class RateRow:
    """One line of a rate plan, as the rating table needs it."""

    leg: LegRole
    prefix: str
    number_type: NumberType | None
    tariff: Tariff


_Desc = tuple[frozenset[int], "re.Pattern[str]"] | None
_EXCLUDED_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")


def _desc(description: Any) -> _Desc:
    if description is None or not description.national_number_pattern:
        return None
    return frozenset(description.possible_length), re.compile(description.national_number_pattern)


def _matches(national: str, description: _Desc) -> bool:
    if description is None:
        return False
    lengths, pattern = description
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


@dataclass(frozen=True)
class _HomeNumbering:
    """The home region's number-type patterns, from phonenumbers' own metadata, applied by the same rules as
    phonenumbers.number_type (about 50 times faster than parsing each number: rating runs it per leg)."""

    country_code: str
    general: _Desc
    excluded: tuple[_Desc, ...]
    fixed_line: _Desc
    mobile: _Desc
    same_mobile_and_fixed_line: bool
    # A national number phonenumbers may strip a national prefix from ("0…" in China): asked of phonenumbers.
    prefix_for_parsing: "re.Pattern[str] | None"

    def kind(self, national: str) -> NumberType | None:
        if not _matches(national, self.general) or any(_matches(national, d) for d in self.excluded):
            return None
        if _matches(national, self.fixed_line):
            return NumberType.FIXED_LINE  # fixed line, or "fixed line or mobile": billed as fixed line
        if not self.same_mobile_and_fixed_line and _matches(national, self.mobile):
            return NumberType.MOBILE
        return None


@lru_cache(maxsize=64)
def _home_numbering(region: str) -> _HomeNumbering | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    if metadata is None or len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code or 0, ())) != 1:
        return None  # a calling code shared by several regions (+1, +7): leave it to phonenumbers
    return _HomeNumbering(
        country_code=str(metadata.country_code),
        general=_desc(metadata.general_desc),
        excluded=tuple(_desc(getattr(metadata, name)) for name in _EXCLUDED_TYPES),
        fixed_line=_desc(metadata.fixed_line),
        mobile=_desc(metadata.mobile),
        same_mobile_and_fixed_line=bool(metadata.same_mobile_and_fixed_line_pattern),
        prefix_for_parsing=re.compile(metadata.national_prefix_for_parsing)
        if metadata.national_prefix_for_parsing
        else None,
    )


def _calling_code(digits: str) -> str | None:
    for length in (1, 2, 3):
        if int(digits[:length] or "0") in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[:length]
    return None


def classify_number(digits: str, home_country: str) -> NumberType | None:
    """Mobile, fixed line or international as seen from ``home_country``; None for anything else (premium…)."""
    home = _home_numbering(home_country)
    if home is None or not digits.isdigit():
        return classify_number_reference(digits, home_country)
    code = _calling_code(digits)
    national = digits[len(code) :] if code else ""
    if code is None or not 2 <= len(national) <= 17:
        return None
    if code != home.country_code:
        return NumberType.INTERNATIONAL
    if home.prefix_for_parsing is not None and home.prefix_for_parsing.match(national):
        return classify_number_reference(digits, home_country)
    return home.kind(national)


def classify_number_reference(digits: str, home_country: str) -> NumberType | None:
    """The same question asked of phonenumbers itself (the reference the fast path is tested against)."""
    try:
        parsed = phonenumbers.parse(f"+{digits}")
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_number(parsed) != home_country.upper():
        return NumberType.INTERNATIONAL
    kind = phonenumbers.number_type(parsed)
    if kind == phonenumbers.PhoneNumberType.MOBILE:
        return NumberType.MOBILE
    if kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return NumberType.FIXED_LINE
    return None


class RateTable:
    """A rate plan compiled for lookups: longest prefix first, then number type; own role before any role."""

    def __init__(self, rows: Iterable[RateRow], *, unanswered_free: bool = True, home_country: str = "CN") -> None:
        self.unanswered_free = unanswered_free
        self.home_country = home_country
        self._prefixes: dict[tuple[LegRole, str], Tariff] = {}
        self._types: dict[tuple[LegRole, NumberType], Tariff] = {}
        self._longest = 0
        for row in rows:
            if row.prefix:
                self._prefixes[(row.leg, row.prefix)] = row.tariff
                self._longest = max(self._longest, len(row.prefix))
            elif row.number_type is not None:
                self._types[(row.leg, row.number_type)] = row.tariff
        self._memo: dict[tuple[LegRole, str], Tariff | None] = {}

    def lookup(self, role: LegRole | str, number: str) -> Tariff | None:
        """The tariff for a leg of ``role`` to ``number`` (E.164, with or without '+'), or None if unrated."""
        role = LegRole(role)
        digits = number.lstrip("+")
        key = (role, digits)
        if key in self._memo:
            return self._memo[key]
        found = self._lookup(role, digits)
        if len(self._memo) < 500_000:
            self._memo[key] = found
        return found

    def _lookup(self, role: LegRole, digits: str) -> Tariff | None:
        for length in range(min(self._longest, len(digits)), 0, -1):
            prefix = digits[:length]
            tariff = self._prefixes.get((role, prefix)) or self._prefixes.get((LegRole.ANY, prefix))
            if tariff is not None:
                return tariff
        if not self._types:
            return None
        kind = classify_number(digits, self.home_country)
        if kind is None:
            return None
        return self._types.get((role, kind)) or self._types.get((LegRole.ANY, kind))

    def rate(
        self, *, role: LegRole | str, number: str, seconds: int, answered: bool
    ) -> tuple[Tariff, LegCharge] | None:
        tariff = self.lookup(role, number)
        if tariff is None:
            return None
        return tariff, rate_leg(tariff=tariff, seconds=seconds, answered=answered, unanswered_free=self.unanswered_free)
