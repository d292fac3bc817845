"""Reads on billing, always scoped to one enterprise unless the name says it is the operator's (console)."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from billing.models import BillingAccount, FraudAlert, Invoice, LedgerEntry, LowBalanceThreshold, RatePlan
from billing.services.ledger import Funds, funds_of
from tenants.models import Enterprise


def account_of(*, enterprise: Enterprise) -> BillingAccount | None:
    return BillingAccount.objects.select_related("rate_plan").filter(enterprise=enterprise).first()


def funds_for(*, enterprise: Enterprise) -> Funds | None:
    """Balance, reserved and available funds; None for an unmetered tenant."""
    account = account_of(enterprise=enterprise)
    return funds_of(account=account) if account else None


def thresholds_of(*, enterprise: Enterprise) -> QuerySet[LowBalanceThreshold]:
    return LowBalanceThreshold.objects.filter(enterprise=enterprise).order_by("-amount")


def ledger_entries_of(*, enterprise: Enterprise, kinds: list[str] | None = None) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.filter(enterprise=enterprise).select_related("created_by").order_by("-id")
    return entries.filter(kind__in=kinds) if kinds else entries


def invoices_of(*, enterprise: Enterprise) -> QuerySet[Invoice]:
    return Invoice.objects.filter(enterprise=enterprise).order_by("-issued_at", "-id")


def invoice_of(*, enterprise: Enterprise, pk: int) -> Invoice | None:
    return invoices_of(enterprise=enterprise).prefetch_related("lines").filter(pk=pk).first()


# --- the operator's views (console): every tenant -------------------------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    account: BillingAccount
    funds: Funds


def accounts_with_funds() -> list[AccountRow]:
    accounts = BillingAccount.objects.select_related("enterprise", "rate_plan").order_by("enterprise__name")
    return [AccountRow(account, funds_of(account=account)) for account in accounts]


def all_invoices() -> QuerySet[Invoice]:
    return Invoice.objects.select_related("enterprise").order_by("-issued_at", "-id")


def rate_plans() -> QuerySet[RatePlan]:
    return RatePlan.objects.prefetch_related("rates").order_by("name")


def fraud_alerts() -> QuerySet[FraudAlert]:
    return FraudAlert.objects.select_related("enterprise").order_by("-created_at", "-id")


def total(amounts: list[Decimal]) -> Decimal:
    return sum(amounts, Decimal(0))
