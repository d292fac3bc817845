import pytest

from tenants.phone import InvalidPhoneNumber, dial_digits, normalize_e164


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("13800138000", "CN", "+8613800138000"),
        ("+86 138 0013 8000", None, "+8613800138000"),
        ("010 6552 9988", "CN", "+861065529988"),
        ("+1 (415) 555-2671", "CN", "+14155552671"),
    ],
)
def test_numbers_are_stored_as_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize_e164(raw, default_region=region) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter a phone number."),
        ("hello", "This is not a phone number."),
        ("13800138000", "Add the country code, for example +86."),
        ("+86 138", "This number has the wrong length for its country."),
        ("+86 138001380001234", "This number has the wrong length for its country."),
        ("1\r\nAction: Originate", "This is not a phone number."),
    ],
)
def test_bad_numbers_are_refused_with_the_reason(raw: str, message: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_e164(raw, default_region=None)
    assert caught.value.message == message


def test_dial_digits_keep_only_digits() -> None:
    assert dial_digits("+8613800138000") == "8613800138000"
