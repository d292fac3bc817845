"""Billing's answers to the engine. Prepaid balances and rating build on these (see the CDR/billing issue)."""

from django.conf import settings

from tenants.models import Enterprise


def max_call_seconds(*, enterprise: Enterprise) -> int:
    """The longest call the enterprise may place now, handed to Asterisk as the call's absolute timeout.

    Until prepaid balances exist every enterprise gets the operator's configured ceiling.
    """
    return settings.BILLING_MAX_CALL_SECONDS
