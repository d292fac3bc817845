from django import forms
from django.utils.translation import gettext_lazy as _

from callback.models import STATUS_TEXT
from callback.statemachine import Status
from widget.models import WidgetSettings


class WidgetSettingsForm(forms.ModelForm):
    """What an enterprise admin sets; the service normalises and validates the lists."""

    allowed_origins = forms.CharField(
        label=_("Websites allowed to show the widget"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://www.example.com"}),
        help_text=_("One per line, such as https://www.example.com; https://*.example.com allows every subdomain."),
    )
    allowed_countries = forms.CharField(
        label=_("Countries visitors may call from"),
        required=False,
        help_text=_("Two-letter codes separated by spaces, such as CN HK. Empty: your default country only."),
    )

    class Meta:
        model = WidgetSettings
        fields = ["enabled", "title", "intro", "button_label", "primary_color", "text_color", "position", "language"]
        widgets = {
            "primary_color": forms.TextInput(attrs={"type": "color"}),
            "text_color": forms.TextInput(attrs={"type": "color"}),
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not self.is_bound and self.instance is not None:
            self.initial["allowed_origins"] = "\n".join(self.instance.allowed_origins)
            self.initial["allowed_countries"] = " ".join(self.instance.allowed_countries)

    def clean_allowed_origins(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["allowed_origins"].splitlines() if line.strip()]

    def clean_allowed_countries(self) -> list[str]:
        return self.cleaned_data["allowed_countries"].replace(",", " ").split()


class LeadFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("status"), required=False, choices=[("", _("any"))] + [(s.value, STATUS_TEXT[s]) for s in Status]
    )
    utm_source = forms.CharField(label=_("UTM source"), required=False, max_length=200)
    utm_campaign = forms.CharField(label=_("UTM campaign"), required=False, max_length=200)
    number = forms.CharField(label=_("number contains"), required=False, max_length=20)
    date_from = forms.DateField(label=_("from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class BlacklistForm(forms.Form):
    number = forms.CharField(label=_("number or prefix"), max_length=32)
    is_prefix = forms.BooleanField(label=_("block every number starting with this"), required=False)
    reason = forms.CharField(label=_("reason"), max_length=200, required=False)
