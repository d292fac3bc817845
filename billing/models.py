"""Billing: rate plans, each tenant's billing account, its append-only ledger and reservations, and invoices.

Money lives in these tables only as Decimal with the precision of billing.money. A balance is never stored
to be edited: every change is a LedgerEntry written under a lock on the account, carrying the balance after it;
the check constraint on that running balance is the last guard against an overdraft past the credit limit.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.money import DEFAULT_CURRENCY, MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, TAX_RATE_DECIMAL_PLACES
from billing.rating import Increment, InvalidIncrement
from tenants.models import Enterprise


def money_field(verbose_name: str = "", **kwargs: object) -> models.DecimalField:
    return models.DecimalField(
        verbose_name or None, max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs
    )


def validate_increment(value: str) -> None:
    try:
        Increment.parse(value)
    except InvalidIncrement as exc:
        raise ValidationError(_("Write the increment as first/next seconds, for example 6/6, 30/6 or 60/60.")) from exc


class RatePlan(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    unanswered_free = models.BooleanField(_("unanswered legs are free"), default=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped by every change to the plan's rates (billing/signals.py): processes that keep compiled plans key
    # them by it, so a new price is used from the next call on.
    rates_version = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("rate plan")
        verbose_name_plural = _("rate plans")

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class Rate(models.Model):
    """One destination of a plan: a prefix or a number type, for one leg or both, with its price."""

    class Leg(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise leg")
        VISITOR = "visitor", _("Visitor leg")
        ANY = "any", _("Either leg")

    class NumberType(models.TextChoices):
        MOBILE = "mobile", _("Mobile")
        FIXED_LINE = "fixed_line", _("Fixed line")
        INTERNATIONAL = "international", _("International")

    plan = models.ForeignKey(RatePlan, on_delete=models.CASCADE, related_name="rates")
    leg = models.CharField(_("leg"), max_length=12, choices=Leg.choices, default=Leg.ANY)
    prefix = models.CharField(_("prefix"), max_length=15, blank=True, help_text=_("E.164 digits without +"))
    number_type = models.CharField(_("number type"), max_length=16, choices=NumberType.choices, blank=True)
    destination_group = models.CharField(_("destination group"), max_length=60)
    price_per_minute = money_field(_("price per minute"))
    increment = models.CharField(_("billing increment"), max_length=9, default="6/6", validators=[validate_increment])
    connection_fee = money_field(_("connection fee"), default=0)
    minimum_charge = money_field(_("minimum charge"), default=0)

    class Meta:
        ordering = ["plan", "leg", "-prefix", "number_type"]
        verbose_name = _("rate")
        verbose_name_plural = _("rates")
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(prefix="") & ~models.Q(number_type=""))
                | (~models.Q(prefix="") & models.Q(number_type="")),
                name="rate_prefix_xor_number_type",
            ),
            models.CheckConstraint(
                condition=models.Q(price_per_minute__gte=0, connection_fee__gte=0, minimum_charge__gte=0),
                name="rate_amounts_not_negative",
            ),
            models.CheckConstraint(condition=models.Q(prefix__regex=r"^[0-9]*$"), name="rate_prefix_digits"),
            models.UniqueConstraint(fields=["plan", "leg", "prefix", "number_type"], name="rate_unique_destination"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.destination_group} {self.prefix or self.number_type} {self.price_per_minute}/min {self.increment}"
        )


class BillingAccount(models.Model):
    """How one enterprise is billed: its plan, currency, credit limit, daily cap, tax and invoice language."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.PROTECT, related_name="billing_account")
    rate_plan = models.ForeignKey(RatePlan, on_delete=models.PROTECT, related_name="accounts")
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    credit_limit = money_field(_("credit limit"), default=0, help_text=_("How far below zero the balance may go."))
    daily_spend_cap = money_field(_("daily spend cap"), null=True, blank=True)
    tax_rate = models.DecimalField(_("tax rate"), max_digits=6, decimal_places=TAX_RATE_DECIMAL_PLACES, default=0)
    language = models.CharField(_("invoice language"), max_length=10, choices=settings.LANGUAGES, default="zh-hans")
    alert_email = models.EmailField(_("low-balance alert email"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("billing account")
        verbose_name_plural = _("billing accounts")
        constraints = [
            models.CheckConstraint(condition=models.Q(credit_limit__gte=0), name="account_credit_limit_not_negative"),
            models.CheckConstraint(
                condition=models.Q(daily_spend_cap__isnull=True) | models.Q(daily_spend_cap__gte=0),
                name="account_daily_cap_not_negative",
            ),
            models.CheckConstraint(condition=models.Q(tax_rate__gte=0, tax_rate__lt=1), name="account_tax_rate_range"),
        ]

    def __str__(self) -> str:
        return f"{self.enterprise} ({self.currency})"


class LowBalanceThreshold(models.Model):
    """An amount the tenant wants an email at when the balance falls below it; once per crossing."""

    account = models.ForeignKey(BillingAccount, on_delete=models.CASCADE, related_name="thresholds")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    amount = money_field(_("alert below"))
    # Disarmed when an alert went out; armed again when the balance is back at or above the amount.
    armed = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("low-balance threshold")
        verbose_name_plural = _("low-balance thresholds")
        ordering = ["-amount"]
        constraints = [models.UniqueConstraint(fields=["account", "amount"], name="threshold_unique_amount")]

    def __str__(self) -> str:
        return str(self.amount)


class LedgerEntry(models.Model):
    """One change of a prepaid balance. Never updated or deleted; the balance is the last entry's balance_after."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        CHARGE = "charge", _("Call charge")
        ADJUSTMENT = "adjustment", _("Adjustment")
        REFUND = "refund", _("Refund")

    account = models.ForeignKey(BillingAccount, on_delete=models.PROTECT, related_name="entries")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    amount = money_field(_("amount"))
    currency = models.CharField(max_length=3)
    balance_after = money_field(_("balance after"))
    # The credit limit in force when the entry was written: the check below is the last guard on the balance.
    credit_limit = money_field()
    # One key per money movement (a top-up's request id, a CDR's charge…): the same movement is never booked twice.
    key = models.CharField(max_length=120, unique=True)
    reason = models.CharField(_("reason"), max_length=300)
    reference = models.CharField(_("reference"), max_length=120, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        indexes = [models.Index(fields=["account", "-id"]), models.Index(fields=["account", "kind", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance_after__gte=-models.F("credit_limit")), name="ledger_balance_within_credit"
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="top_up") | models.Q(amount__gt=0), name="ledger_top_up_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="charge") | models.Q(amount__lte=0), name="ledger_charge_not_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="refund") | models.Q(amount__lt=0), name="ledger_refund_out"
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="ledger_reason_required"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} → {self.balance_after}"

    @property
    def reason_display(self) -> str:
        """The reason in the reader's language: reasons Huibo writes itself are stored in English (gettext_noop)."""
        return gettext(self.reason) if self.reason else ""


class Reservation(models.Model):
    """Funds held for one call from its Originate until its CDRs are written (settled) or it failed (released)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SETTLED = "settled", _("Settled")
        RELEASED = "released", _("Released")

    account = models.ForeignKey(BillingAccount, on_delete=models.PROTECT, related_name="reservations")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=64, unique=True)  # the attempt's channel id = the call's Linkedid
    amount = money_field(_("reserved"))
    max_seconds = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    charged = money_field(_("charged"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("funds reservation")
        verbose_name_plural = _("funds reservations")
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "status"])]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0), name="reservation_not_negative")]

    def __str__(self) -> str:
        return f"{self.key} {self.amount} ({self.status})"


class InvoiceSequence(models.Model):
    """The last number used in one series (``INV-2026``, ``CN-2026``): invoice numbers have no gaps."""

    series = models.CharField(max_length=20, primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("invoice numbering")
        verbose_name_plural = _("invoice numberings")

    def __str__(self) -> str:
        return f"{self.series}: {self.last_number}"


class Invoice(models.Model):
    """An issued invoice or credit note: immutable once written (a database trigger refuses edits on PostgreSQL).

    Its lines are the exact sums of the CDRs it covers (each CDR points back to it), grouped per leg and
    destination group; only its status may move from issued to voided, and a void comes with a credit note.
    """

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice")
        CREDIT_NOTE = "credit_note", _("Credit note")

    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        VOIDED = "voided", _("Voided")

    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="invoices")
    account = models.ForeignKey(BillingAccount, on_delete=models.PROTECT, related_name="invoices")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.INVOICE)
    number = models.CharField(_("number"), max_length=30, unique=True)
    series = models.CharField(max_length=20)
    sequence = models.PositiveIntegerField()
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ISSUED)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))  # exclusive
    currency = models.CharField(_("currency"), max_length=3)
    language = models.CharField(max_length=10)
    tax_rate = models.DecimalField(_("tax rate"), max_digits=6, decimal_places=TAX_RATE_DECIMAL_PLACES)
    subtotal = money_field(_("usage (exact)"))
    net_amount = money_field(_("net amount"))
    tax_amount = money_field(_("tax"))
    total_amount = money_field(_("total"))
    credits = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_note", verbose_name=_("credits")
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    issued_at = models.DateTimeField(_("issued at"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        indexes = [models.Index(fields=["enterprise", "-issued_at"])]
        constraints = [
            models.UniqueConstraint(fields=["series", "sequence"], name="invoice_unique_sequence"),
            models.CheckConstraint(condition=models.Q(period_start__lt=models.F("period_end")), name="invoice_period"),
            models.CheckConstraint(
                condition=models.Q(total_amount=models.F("net_amount") + models.F("tax_amount")),
                name="invoice_total_is_net_plus_tax",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="+")
    leg = models.CharField(_("leg"), max_length=12)
    destination_group = models.CharField(_("destination group"), max_length=60)
    legs = models.PositiveIntegerField(_("legs"))
    billed_seconds = models.BigIntegerField(_("billed seconds"))
    amount = money_field(_("amount"))

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["leg", "destination_group"]

    def __str__(self) -> str:
        return f"{self.leg} {self.destination_group}: {self.amount}"


class FraudAlert(models.Model):
    """A suspicion raised by the checks run from CDR ingestion (RELIABILITY.md S7); it suspended the tenant."""

    class Kind(models.TextChoices):
        SHORT_CALLS = "short_calls", _("Short-call pumping")
        PREFIX_SKEW = "prefix_skew", _("Sudden skew to one prefix")

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    detail = models.CharField(_("detail"), max_length=300)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("fraud alert")
        verbose_name_plural = _("fraud alerts")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.enterprise_id} {self.kind}"
