"""Billing's services. The engine calls ``call_reserve`` (before an Originate) and CDR ingestion calls
``call_settle``; the widget calls ``spend_cap_reached``; the portals and the console call the rest.

Lock order, everywhere: the Enterprise row (the engine takes it before ``call_reserve``), then the
BillingAccount row. Nothing in billing locks an Enterprise after an account.
"""

from billing.services import invoices
from billing.services.accounts import (
    account_open,
    account_update,
    rate_create,
    rate_plan_create,
    threshold_set,
)
from billing.services.calls import (
    call_release,
    call_reserve,
    call_settle,
    reservations_release_stale,
    spend_cap_reached,
)
from billing.services.fraud import pumping_check
from billing.services.invoices import invoice_issue, invoice_void, invoices_issue_month
from billing.services.ledger import balance_adjust, balance_refund, balance_top_up
from billing.services.rerating import LegToRate, RatingContext, cdrs_rate, rating_context_for

__all__ = [
    "LegToRate",
    "RatingContext",
    "account_open",
    "account_update",
    "balance_adjust",
    "balance_refund",
    "balance_top_up",
    "call_release",
    "call_reserve",
    "call_settle",
    "cdrs_rate",
    "invoice_issue",
    "invoices",
    "invoice_void",
    "invoices_issue_month",
    "pumping_check",
    "rate_create",
    "rate_plan_create",
    "rating_context_for",
    "reservations_release_stale",
    "spend_cap_reached",
    "threshold_set",
]
