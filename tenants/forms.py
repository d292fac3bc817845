from django import forms
from django.utils.translation import gettext_lazy as _

from tenants.models import BoundNumber, Enterprise, WorkingHours


class EnterpriseSettingsForm(forms.ModelForm):
    """What an enterprise admin may change; status, limits and keys stay with the operator."""

    class Meta:
        model = Enterprise
        fields = [
            "time_zone",
            "default_country",
            "caller_id",
            "call_order",
            "hunting_strategy",
            "ring_timeout_seconds",
            "sticky_routing",
            "agent_confirmation",
            "visitor_retries",
            "visitor_retry_spacing_seconds",
        ]


class BoundNumberForm(forms.ModelForm):
    # Free text: the service normalises it to E.164 and says why when it cannot.
    number = forms.CharField(label=_("number"), max_length=32)

    class Meta:
        model = BoundNumber
        fields = ["number", "label", "priority", "enabled", "ring_timeout_seconds"]

    def validate_unique(self) -> None:
        """Uniqueness is checked on the normalised number by the service."""


class OpeningIntervalForm(forms.Form):
    weekday = forms.TypedChoiceField(label=_("weekday"), choices=WorkingHours.Weekday.choices, coerce=int)
    opens_at = forms.TimeField(label=_("opens at"), widget=forms.TimeInput(attrs={"type": "time"}))
    closes_at = forms.TimeField(label=_("closes at"), widget=forms.TimeInput(attrs={"type": "time"}))


OpeningIntervalFormSet = forms.formset_factory(OpeningIntervalForm, extra=2, can_delete=True)


class HolidayForm(forms.Form):
    date = forms.DateField(label=_("date"), widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(label=_("name"), max_length=100, required=False)
