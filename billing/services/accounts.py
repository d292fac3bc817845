"""Rate plans and billing accounts: the operator's setup of how a tenant is billed."""

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from billing.models import BillingAccount, LowBalanceThreshold, Rate, RatePlan
from billing.money import DEFAULT_CURRENCY, quantize_money
from huibo.errors import ApplicationError
from tenants.models import Enterprise

ACCOUNT_EDITABLE_FIELDS = frozenset(
    {"rate_plan", "credit_limit", "daily_spend_cap", "tax_rate", "language", "alert_email"}
)


class BillingConfigError(ApplicationError):
    pass


def _full_clean(instance: Any, **kwargs: Any) -> None:
    try:
        instance.full_clean(**kwargs)
    except ValidationError as exc:
        raise BillingConfigError("invalid", " ".join(exc.messages)) from exc


def rate_plan_create(
    *, name: str, currency: str = DEFAULT_CURRENCY, unanswered_free: bool = True, description: str = ""
) -> RatePlan:
    plan = RatePlan(name=name, currency=currency.upper(), unanswered_free=unanswered_free, description=description)
    _full_clean(plan)
    plan.save()
    return plan


def rate_create(
    *,
    plan: RatePlan,
    destination_group: str,
    price_per_minute: Decimal,
    prefix: str = "",
    number_type: str = "",
    leg: str = Rate.Leg.ANY,
    increment: str = "6/6",
    connection_fee: Decimal = Decimal(0),
    minimum_charge: Decimal = Decimal(0),
) -> Rate:
    """Add one destination to a plan: a prefix (E.164 digits) or a number type, never both."""
    if bool(prefix) == bool(number_type):
        raise BillingConfigError("prefix_or_type", _("Give either a prefix or a number type."))
    rate = Rate(
        plan=plan,
        leg=leg,
        prefix=prefix.lstrip("+"),
        number_type=number_type,
        destination_group=destination_group,
        price_per_minute=quantize_money(Decimal(price_per_minute)),
        increment=increment.replace(" ", ""),
        connection_fee=quantize_money(Decimal(connection_fee)),
        minimum_charge=quantize_money(Decimal(minimum_charge)),
    )
    _full_clean(rate, validate_constraints=False, validate_unique=False)
    try:
        with transaction.atomic():
            rate.save()
    except IntegrityError as exc:
        raise BillingConfigError("duplicate_rate", _("This plan already prices that destination.")) from exc
    return rate


def account_open(
    *,
    enterprise: Enterprise,
    rate_plan: RatePlan,
    credit_limit: Decimal = Decimal(0),
    daily_spend_cap: Decimal | None = None,
    tax_rate: Decimal = Decimal(0),
    language: str = "zh-hans",
    alert_email: str = "",
) -> BillingAccount:
    """Start billing an enterprise: from now on its calls need funds and its CDRs are rated."""
    account = BillingAccount(
        enterprise=enterprise,
        rate_plan=rate_plan,
        currency=rate_plan.currency,
        credit_limit=quantize_money(Decimal(credit_limit)),
        daily_spend_cap=None if daily_spend_cap is None else quantize_money(Decimal(daily_spend_cap)),
        tax_rate=Decimal(tax_rate),
        language=language,
        alert_email=alert_email,
    )
    _full_clean(account, validate_unique=False)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:
        raise BillingConfigError("account_exists", _("This enterprise already has a billing account.")) from exc
    return account


def account_update(*, account: BillingAccount, **fields: Any) -> BillingAccount:
    """Change how a tenant is billed. The currency follows the plan and never changes once money moved."""
    unknown = set(fields) - ACCOUNT_EDITABLE_FIELDS
    if unknown:
        raise BillingConfigError("unknown_field", f"Unknown fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = BillingAccount.objects.select_for_update().get(pk=account.pk)
        for key, value in fields.items():
            setattr(locked, key, value)
        if locked.rate_plan.currency != locked.currency:
            raise BillingConfigError(
                "currency_mismatch",
                _("The plan's currency must be the account's currency (%(currency)s).") % {"currency": locked.currency},
            )
        _full_clean(locked, validate_unique=False)
        locked.save()
    account.refresh_from_db()
    return account


def threshold_set(*, account: BillingAccount, amounts: list[Decimal]) -> list[LowBalanceThreshold]:
    """Replace the tenant's low-balance alert thresholds; each new one starts armed."""
    cleaned = sorted({quantize_money(Decimal(a)) for a in amounts}, reverse=True)
    with transaction.atomic():
        BillingAccount.objects.select_for_update().get(pk=account.pk)
        LowBalanceThreshold.objects.filter(account=account).exclude(amount__in=cleaned).delete()
        existing = set(LowBalanceThreshold.objects.filter(account=account).values_list("amount", flat=True))
        LowBalanceThreshold.objects.bulk_create(
            LowBalanceThreshold(account=account, enterprise_id=account.enterprise_id, amount=amount)
            for amount in cleaned
            if amount not in existing
        )
    return list(LowBalanceThreshold.objects.filter(account=account))
