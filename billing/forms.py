import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import LedgerEntry
from billing.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS
from tenants.models import Enterprise


class LedgerEntryForm(forms.Form):
    """An operator's top-up, adjustment or refund. ``key`` is issued with the form: a double submit books once."""

    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[
            (LedgerEntry.Kind.TOP_UP, _("Top-up")),
            (LedgerEntry.Kind.ADJUSTMENT, _("Adjustment (+ or −)")),
            (LedgerEntry.Kind.REFUND, _("Refund (paid back)")),
        ],
    )
    amount = forms.DecimalField(label=_("Amount"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    reason = forms.CharField(label=_("Reason"), max_length=300)
    key = forms.CharField(widget=forms.HiddenInput, max_length=80)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not self.is_bound:
            self.initial.setdefault("key", f"form:{uuid.uuid4().hex}")

    def clean_amount(self) -> Decimal:
        amount: Decimal = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("The amount cannot be zero."))
        return amount


class AlertSettingsForm(forms.Form):
    """The tenant's low-balance alerts: amounts to be told at, and where."""

    thresholds = forms.CharField(
        label=_("Email me when the balance falls below"),
        required=False,
        max_length=200,
        help_text=_("Amounts separated by commas, for example 500, 100, 20. Each alerts once per crossing."),
    )
    alert_email = forms.EmailField(label=_("Alert email"), required=False)

    def clean_thresholds(self) -> list[Decimal]:
        amounts = []
        for part in self.cleaned_data["thresholds"].replace("，", ",").split(","):
            if not part.strip():
                continue
            try:
                amount = Decimal(part.strip())
            except ArithmeticError as exc:
                raise forms.ValidationError(_("%(value)s is not an amount.") % {"value": part.strip()}) from exc
            if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -MONEY_DECIMAL_PLACES:
                raise forms.ValidationError(_("%(value)s is not an amount.") % {"value": part.strip()})
            amounts.append(amount)
        if len(amounts) > 10:
            raise forms.ValidationError(_("Ten thresholds at most."))
        return amounts


class IssueInvoiceForm(forms.Form):
    enterprise = forms.ModelChoiceField(
        label=_("Enterprise"), queryset=Enterprise.objects.filter(billing_account__isnull=False).order_by("name")
    )
    period_start = forms.DateField(label=_("Period start"), widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(label=_("Period end (exclusive)"), widget=forms.DateInput(attrs={"type": "date"}))


class VoidInvoiceForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)
