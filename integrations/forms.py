from django import forms
from django.utils.translation import gettext_lazy as _

from integrations.services.webhooks import WEBHOOK_EVENT_LABELS


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=100, help_text=_("What uses it, e.g. “CRM server”."))


class WebhookSubscriptionForm(forms.Form):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"),
        choices=[(event.value, label) for event, label in WEBHOOK_EVENT_LABELS.items()],
        widget=forms.CheckboxSelectMultiple,
    )
    description = forms.CharField(label=_("description"), max_length=200, required=False)
    enabled = forms.BooleanField(label=_("enabled"), required=False, initial=True)
