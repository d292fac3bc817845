"""Money in Huibo: Decimal only, with one set of precision constants for the whole project (RELIABILITY.md S10).

Rates and per-leg charges carry four decimal places (a 6-second block of 0.12/min is 0.012); ledger entries and
reservations carry the same, so a balance is the exact sum of what was charged. Invoices round to the currency's
minor unit once, on their totals. Nothing here ever passes through a binary float.
"""

from decimal import ROUND_HALF_UP, Decimal

# Digits stored for any amount (a balance up to 99,999,999,999,999.9999).
MONEY_MAX_DIGITS = 18
# Rates, per-leg charges, ledger entries and reservations.
MONEY_DECIMAL_PLACES = 4
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_DECIMAL_PLACES)
# Invoice totals and tax: the minor unit of the currencies Huibo bills in (fen, cent).
INVOICE_DECIMAL_PLACES = 2
INVOICE_QUANTUM = Decimal(1).scaleb(-INVOICE_DECIMAL_PLACES)
# A tax rate such as 0.0600 (6 %).
TAX_RATE_DECIMAL_PLACES = 4
ZERO = Decimal(0)
DEFAULT_CURRENCY = "CNY"


def quantize_money(amount: Decimal) -> Decimal:
    """Round an amount to the stored precision, half up (the way a person rounds on paper)."""
    return amount.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def quantize_invoice(amount: Decimal) -> Decimal:
    return amount.quantize(INVOICE_QUANTUM, rounding=ROUND_HALF_UP)
