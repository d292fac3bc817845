"""Billing's answers to the engine. Prepaid balances and rating build on these (see the CDR/billing issue).

The engine calls ``call_reserve`` inside the transaction that creates an attempt, before the Originate,
and ``call_release`` when an attempt ends; CDR ingestion settles the real charge.
"""

from django.conf import settings

from tenants.models import Enterprise


def call_reserve(*, enterprise: Enterprise, reservation_key: str, enterprise_number: str, visitor_number: str) -> int:
    """Reserve funds for both legs of one call; return the longest call (seconds) the reservation pays for.

    Raises ApplicationError("balance_exhausted") when the available balance cannot pay for a minimum call.
    Until prepaid balances exist every enterprise gets the operator's configured ceiling.
    """
    return settings.BILLING_MAX_CALL_SECONDS


def call_release(*, reservation_key: str) -> None:
    """Give back whatever a call reserved and has not been charged (the call failed or was never placed)."""


def spend_cap_reached(*, enterprise: Enterprise) -> bool:
    """Whether the enterprise's daily spend cap (RELIABILITY.md S4) leaves no room for another call today."""
    return False
