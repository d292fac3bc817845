"""Input validation and the documented output shapes of the API.

Outputs delegate to integrations.representations (what webhooks send too); the declared fields are what the
OpenAPI schema shows, and the schemathesis run checks every response against them.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from callback.statemachine import Status
from cdr.models import DISPOSITION_TEXT
from integrations import representations


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Stable, for programs: e.g. invalid_phone_number, throttled."))
    message = serializers.CharField(help_text=_("For people, in the request's language."))
    extra = serializers.DictField(help_text=_("Details: fields in error, retry_after seconds …"))


class CallbackCreateSerializer(serializers.Serializer):
    visitor_number = serializers.CharField(
        max_length=64, help_text=_("The number to call back: E.164 (+8613900001005) or national.")
    )
    country = serializers.CharField(
        max_length=2,
        required=False,
        allow_blank=True,
        help_text=_("ISO country of a national number (default: the enterprise's country)."),
    )
    call_at = serializers.DateTimeField(
        required=False,
        help_text=_(
            "When to call, ISO 8601 (without an offset: UTC): within the enterprise's working hours and at most "
            "a week ahead. Default: as soon as the enterprise is open."
        ),
    )


class CallbackSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text=_("The request's public id."))
    enterprise = serializers.CharField()
    status = serializers.ChoiceField(choices=[s.value for s in Status])
    is_final = serializers.BooleanField()
    reason_code = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    visitor_number = serializers.CharField()
    source = serializers.CharField()
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    connected_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return representations.callback_representation(instance, enterprise_slug=instance.enterprise.slug)


class CdrSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    enterprise = serializers.CharField()
    callback_id = serializers.UUIDField(allow_null=True)
    leg = serializers.ChoiceField(choices=["enterprise", "visitor"])
    number = serializers.CharField()
    node = serializers.CharField()
    linkedid = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.IntegerField()
    billable_seconds = serializers.IntegerField()
    disposition = serializers.CharField()
    hangup_cause = serializers.IntegerField(allow_null=True)
    charge = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True, coerce_to_string=True)
    currency = serializers.CharField(allow_blank=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        callback_ids: dict[int, str] = self.context.get("callback_ids", {})
        return representations.cdr_representation(
            instance,
            enterprise_slug=self.context["enterprise_slug"],
            callback_id=callback_ids.get(instance.callback_request_id),
        )


class CdrFilterSerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False, help_text=_("Legs that started on or after this day."))
    date_to = serializers.DateField(required=False, help_text=_("Legs that started on or before this day."))
    leg = serializers.ChoiceField(choices=["enterprise", "visitor"], required=False)
    # Every disposition a CDR can carry (what this API returns in ``disposition``).
    disposition = serializers.ChoiceField(choices=list(DISPOSITION_TEXT), required=False)
    number = serializers.CharField(required=False, max_length=20, help_text=_("Numbers containing these digits."))
    callback_id = serializers.UUIDField(required=False, help_text=_("Only the legs of this callback request."))


class CallbackFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[s.value for s in Status], required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class EnterpriseSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    time_zone = serializers.CharField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {
            "slug": instance.slug,
            "name": instance.name,
            "status": instance.status,
            "time_zone": instance.time_zone,
        }


class InvoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    kind = serializers.ChoiceField(choices=["invoice", "credit_note"])
    status = serializers.ChoiceField(choices=["issued", "voided"])
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text=_("Exclusive."))
    currency = serializers.CharField()
    subtotal = serializers.DecimalField(max_digits=18, decimal_places=4, help_text=_("Usage, exact."))
    net_amount = serializers.DecimalField(max_digits=18, decimal_places=4)
    tax_amount = serializers.DecimalField(max_digits=18, decimal_places=4)
    total_amount = serializers.DecimalField(max_digits=18, decimal_places=4)
    issued_at = serializers.DateTimeField()
    voided_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return representations.invoice_representation(instance)


class BalanceSerializer(serializers.Serializer):
    metered = serializers.BooleanField(help_text=_("False: no billing account, calls are not charged."))
    currency = serializers.CharField(allow_null=True)
    balance = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True)
    reserved = serializers.DecimalField(
        max_digits=18, decimal_places=4, allow_null=True, help_text=_("Held by calls in progress.")
    )
    credit_limit = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True)
    available = serializers.DecimalField(
        max_digits=18, decimal_places=4, allow_null=True, help_text=_("What new calls may still use.")
    )
