from django import forms
from django.utils.translation import gettext_lazy as _

from cdr.models import DISPOSITION_TEXT, CallDetailRecord, RecordingSetting
from cdr.selectors import CdrFilter
from tenants.models import Enterprise

DISPOSITIONS = [("", _("Any")), *DISPOSITION_TEXT.items()]


class CdrFilterForm(forms.Form):
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    leg = forms.ChoiceField(label=_("Leg"), required=False, choices=[("", _("Any")), *CallDetailRecord.Leg.choices])
    disposition = forms.ChoiceField(label=_("Disposition"), required=False, choices=DISPOSITIONS)
    number = forms.CharField(label=_("Number contains"), required=False, max_length=20)

    def filters(self) -> CdrFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return CdrFilter(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            leg=data.get("leg", ""),
            disposition=data.get("disposition", ""),
            number=data.get("number", ""),
            enterprise_id=data["enterprise"].pk if data.get("enterprise") else None,
        )


class ConsoleCdrFilterForm(CdrFilterForm):
    enterprise = forms.ModelChoiceField(
        label=_("Enterprise"), required=False, queryset=Enterprise.objects.order_by("name")
    )


class RecordingSettingForm(forms.ModelForm):
    class Meta:
        model = RecordingSetting
        fields = ["enabled", "notice"]
