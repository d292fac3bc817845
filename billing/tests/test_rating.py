"""Rating one leg: the trade's increments, fees and minimums, by a table of cases and against a reference model (B1)."""

import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.rating import (
    Increment,
    InvalidIncrement,
    LegRole,
    NumberType,
    RateRow,
    RateTable,
    Tariff,
    billed_seconds,
    rate_leg,
)

D = Decimal


@pytest.mark.parametrize(
    ("increment", "seconds", "billed"),
    [
        ("60/60", 0, 0),
        ("60/60", 1, 60),
        ("60/60", 60, 60),
        ("60/60", 61, 120),
        ("60/60", 119, 120),
        ("60/60", 120, 120),
        ("30/6", 1, 30),
        ("30/6", 30, 30),
        ("30/6", 31, 36),
        ("30/6", 36, 36),
        ("30/6", 37, 42),
        ("6/6", 1, 6),
        ("6/6", 6, 6),
        ("6/6", 7, 12),
        ("6/6", 3599, 3600),
        ("1/1", 1, 1),
        ("1/1", 59, 59),
        ("0060/0060", 61, 120),
    ],
)
def test_billed_seconds_follow_the_first_block_then_each_further_block(
    increment: str, seconds: int, billed: int
) -> None:
    assert billed_seconds(seconds, Increment.parse(increment)) == billed


@pytest.mark.parametrize(
    ("price", "increment", "fee", "minimum", "seconds", "answered", "free", "charge"),
    [
        # 6/6 at 0.12/min: 0.012 per block of 6 s
        ("0.12", "6/6", "0", "0", 1, True, True, "0.0120"),
        ("0.12", "6/6", "0", "0", 6, True, True, "0.0120"),
        ("0.12", "6/6", "0", "0", 7, True, True, "0.0240"),
        ("0.12", "6/6", "0", "0", 60, True, True, "0.1200"),
        ("0.12", "6/6", "0", "0", 61, True, True, "0.1320"),
        # 60/60 whole minutes
        ("0.30", "60/60", "0", "0", 59, True, True, "0.3000"),
        ("0.30", "60/60", "0", "0", 60, True, True, "0.3000"),
        ("0.30", "60/60", "0", "0", 61, True, True, "0.6000"),
        # 30/6: half a minute first, then 6 s blocks
        ("0.30", "30/6", "0", "0", 29, True, True, "0.1500"),
        ("0.30", "30/6", "0", "0", 31, True, True, "0.1800"),
        # connection fee on top; minimum charge as a floor
        ("0.20", "6/6", "0.05", "0", 12, True, True, "0.0900"),
        ("0.12", "6/6", "0", "0.10", 6, True, True, "0.1000"),
        ("0.12", "6/6", "0", "0.10", 60, True, True, "0.1200"),
        # 0 s answered: only the fee (and the minimum)
        ("0.12", "6/6", "0.05", "0", 0, True, True, "0.0500"),
        # unanswered: free by default, else the connection fee alone
        ("0.12", "6/6", "0.05", "0.10", 0, False, True, "0.0000"),
        ("0.12", "6/6", "0.05", "0.10", 0, False, False, "0.0500"),
        # rounding half up at the fourth place: 1 s of 0.1234/min 1/1 = 0.0020566…
        ("0.1234", "1/1", "0", "0", 1, True, True, "0.0021"),
        ("0.0030", "1/1", "0", "0", 1, True, True, "0.0001"),  # 0.00005 exactly: half up
    ],
)
def test_a_leg_costs_its_blocks_plus_the_fee_never_below_the_minimum(
    price: str, increment: str, fee: str, minimum: str, seconds: int, answered: bool, free: bool, charge: str
) -> None:
    tariff = Tariff(D(price), Increment.parse(increment), D(fee), D(minimum))
    result = rate_leg(tariff=tariff, seconds=seconds, answered=answered, unanswered_free=free)
    assert result.amount == D(charge)
    assert str(result.amount) == charge  # four places, always


@pytest.mark.parametrize("text", ["6", "6/0", "0/6", "a/b", "6/6/6", "-6/6", ""])
def test_a_malformed_increment_is_refused(text: str) -> None:
    with pytest.raises(InvalidIncrement):
        Increment.parse(text)


# --- B1: the reference model -----------------------------------------------------------------------------------


def reference_charge(
    seconds: int, first: int, step: int, price: Fraction, fee: Fraction, minimum: Fraction
) -> Fraction:
    """Written independently of billing.rating: blocks counted one by one, exact fractions, half-up by hand."""
    billed = 0
    if seconds > 0:
        billed = first
        while billed < seconds:
            billed += step
    exact = max(fee + price * billed / 60, minimum)
    scaled = exact * 10_000
    whole = scaled.numerator // scaled.denominator
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Fraction(whole, 10_000)


INCREMENTS = [(60, 60), (30, 6), (6, 6), (1, 1), (60, 6), (30, 30), (18, 6)]


def _check(seconds: int, first: int, step: int, price_units: int, fee_units: int, minimum_units: int) -> None:
    price, fee, minimum = (D(units).scaleb(-4) for units in (price_units, fee_units, minimum_units))
    tariff = Tariff(price, Increment(first, step), fee, minimum)
    ours = rate_leg(tariff=tariff, seconds=seconds, answered=True).amount
    theirs = reference_charge(
        seconds,
        first,
        step,
        Fraction(price_units, 10_000),
        Fraction(fee_units, 10_000),
        Fraction(minimum_units, 10_000),
    )
    assert Fraction(ours) == theirs, (seconds, first, step, price, fee, minimum)


def test_rating_matches_the_reference_model_over_100000_random_cases() -> None:
    generator = random.Random(20261121)
    for _case in range(100_000):
        first, step = generator.choice(INCREMENTS)
        seconds = generator.choice([generator.randint(0, 130), generator.randint(0, 7200)])
        _check(
            seconds,
            first,
            step,
            generator.randint(0, 50_000),  # up to 5.0000 per minute
            generator.choice([0, generator.randint(0, 2_000)]),
            generator.choice([0, generator.randint(0, 5_000)]),
        )


@settings(max_examples=3_000, deadline=None)
@given(
    seconds=st.integers(min_value=0, max_value=36_000),
    increment=st.sampled_from(INCREMENTS) | st.tuples(st.integers(1, 600), st.integers(1, 600)),
    price=st.integers(min_value=0, max_value=1_000_000),
    fee=st.integers(min_value=0, max_value=100_000),
    minimum=st.integers(min_value=0, max_value=100_000),
)
def test_rating_matches_the_reference_model_for_any_tariff(
    seconds: int, increment: tuple[int, int], price: int, fee: int, minimum: int
) -> None:
    _check(seconds, increment[0], increment[1], price, fee, minimum)


@given(seconds=st.integers(min_value=0, max_value=7200), more=st.integers(min_value=0, max_value=600))
def test_a_longer_call_never_costs_less(seconds: int, more: int) -> None:
    tariff = Tariff(D("0.1234"), Increment(30, 6), D("0.05"), D("0.10"))
    assert (
        rate_leg(tariff=tariff, seconds=seconds, answered=True).amount
        <= rate_leg(tariff=tariff, seconds=seconds + more, answered=True).amount
    )


# --- choosing the tariff -----------------------------------------------------------------------------------------


def _tariff(group: str) -> Tariff:
    return Tariff(D("0.10"), Increment(6, 6), destination_group=group)


TABLE = RateTable(
    [
        RateRow(LegRole.ANY, "86", None, _tariff("China")),
        RateRow(LegRole.ANY, "86139", None, _tariff("139")),
        RateRow(LegRole.VISITOR, "861390", None, _tariff("1390 visitors")),
        RateRow(LegRole.ANY, "", NumberType.MOBILE, _tariff("mobile")),
        RateRow(LegRole.ENTERPRISE, "", NumberType.INTERNATIONAL, _tariff("international enterprise")),
        RateRow(LegRole.ANY, "", NumberType.INTERNATIONAL, _tariff("international")),
    ]
)


@pytest.mark.parametrize(
    ("role", "number", "group"),
    [
        ("visitor", "+8613900001005", "1390 visitors"),  # the longest prefix wins
        ("enterprise", "+8613900001005", "139"),  # …among the rates for this leg or any leg
        ("enterprise", "+8613800001100", "China"),
        ("visitor", "+442079460000", "international"),  # no prefix: by number type
        ("enterprise", "+442079460000", "international enterprise"),  # own leg before any leg
    ],
)
def test_the_longest_prefix_then_the_number_type_chooses_the_tariff(role: str, number: str, group: str) -> None:
    tariff = TABLE.lookup(role, number)
    assert tariff is not None and tariff.destination_group == group


def test_a_number_no_rate_matches_is_unrated() -> None:
    table = RateTable([RateRow(LegRole.ANY, "", NumberType.MOBILE, _tariff("mobile"))])
    assert table.lookup("visitor", "+861012345678") is None  # a Beijing fixed line
    assert table.lookup("visitor", "+8613900001005") is not None


# --- number types: the fast path agrees with phonenumbers ---------------------------------------------------------


def test_number_types_agree_with_phonenumbers_on_50000_random_numbers() -> None:
    from billing.rating import classify_number, classify_number_reference

    generator = random.Random(7)
    starts = ["86", "861", "8613", "86139", "8610", "8621", "86400", "86800", "8695", "862", "44", "1", "7", "852", "9"]
    for _case in range(50_000):
        digits = generator.choice(starts) + "".join(generator.choices("0123456789", k=generator.randint(0, 13)))
        for home in ("CN", "GB"):
            assert classify_number(digits, home) == classify_number_reference(digits, home), (digits, home)


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("8613900001005", "mobile"),
        ("861012345678", "fixed_line"),
        ("442079460000", "international"),
        ("86400123456", None),
    ],
)
def test_number_types_seen_from_china(number: str, kind: str | None) -> None:
    from billing.rating import classify_number

    assert classify_number(number, "CN") == (NumberType(kind) if kind else None)
