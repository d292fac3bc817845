"""The operator's side of the widget: per-tenant policy (limits, number types, suspension), blacklists, the
abuse log (read only) and leads (read only)."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huibo.errors import ApplicationError
from tenants.phone import normalize_e164
from widget import services
from widget.abuse import blacklist_cache_forget
from widget.models import AbuseEvent, BlacklistEntry, Lead, WidgetPolicy, WidgetSettings
from widget.numbers import OPTIONAL_NUMBER_TYPES


class WidgetPolicyForm(forms.ModelForm):
    allowed_number_types = forms.MultipleChoiceField(
        label=_("also allowed number types"),
        required=False,
        choices=[(name, label) for name, (_type, label) in OPTIONAL_NUMBER_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Fixed-line and mobile numbers are always allowed; everything else is refused unless ticked."),
    )

    class Meta:
        model = WidgetPolicy
        fields = [
            "enterprise",
            "allow_international",
            "allowed_number_types",
            "number_max_in_flight",
            "number_per_10_minutes",
            "number_per_day",
            "client_per_minute",
            "client_per_hour",
            "client_numbers_per_hour",
            "client_numbers_per_day",
            "enterprise_per_hour",
            "enterprise_per_day",
        ]


@admin.register(WidgetPolicy)
class WidgetPolicyAdmin(admin.ModelAdmin):
    form = WidgetPolicyForm
    list_display = ["enterprise", "allow_international", "allowed_number_types"]
    list_filter = ["allow_international"]
    fieldsets = [
        (None, {"fields": ["enterprise", "allow_international", "allowed_number_types"]}),
        (
            _("Limits (empty: the operator's defaults, RELIABILITY.md S1–S2)"),
            {
                "fields": [
                    "number_max_in_flight",
                    "number_per_10_minutes",
                    "number_per_day",
                    "client_per_minute",
                    "client_per_hour",
                    "client_numbers_per_hour",
                    "client_numbers_per_day",
                    "enterprise_per_hour",
                    "enterprise_per_day",
                ]
            },
        ),
    ]


@admin.register(WidgetSettings)
class WidgetSettingsAdmin(admin.ModelAdmin):
    list_display = ["enterprise", "enabled", "language", "position", "updated_at"]
    list_filter = ["enabled"]


class BlacklistEntryForm(forms.ModelForm):
    class Meta:
        model = BlacklistEntry
        fields = ["enterprise", "kind", "value", "is_prefix", "reason", "expires_at"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        value = cleaned.get("value", "")
        if cleaned.get("kind") == BlacklistEntry.Kind.NUMBER and value and not cleaned.get("is_prefix"):
            enterprise = cleaned.get("enterprise")
            try:
                cleaned["value"] = normalize_e164(
                    value, default_region=enterprise.default_country if enterprise else None
                )
            except ApplicationError as error:
                self.add_error("value", error.message)
        return cleaned


@admin.register(BlacklistEntry)
class BlacklistEntryAdmin(admin.ModelAdmin):
    form = BlacklistEntryForm
    list_display = [
        "value",
        "kind",
        "is_prefix",
        "enterprise",
        "source",
        "expires_at",
        "lifted_at",
        "reason",
        "created_at",
    ]
    list_filter = [
        "kind",
        "source",
        ("enterprise", admin.EmptyFieldListFilter),
        ("lifted_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["value", "reason"]
    readonly_fields = ["source", "created_at", "created_by", "lifted_at", "lifted_by"]
    actions = ["lift"]

    def save_model(self, request: HttpRequest, obj: BlacklistEntry, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
        blacklist_cache_forget()  # this process at once; the others within WIDGET_CACHE_SECONDS

    @admin.action(description=_("Lift the selected entries"))
    def lift(self, request: HttpRequest, queryset: QuerySet[BlacklistEntry]) -> None:
        now = timezone.now()
        for entry in queryset.filter(lifted_at__isnull=True):
            services.blacklist_lift(entry=entry, lifted_by=request.user, now=now)
        self.message_user(request, _("Lifted."), messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AbuseEvent)
class AbuseEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "code", "enterprise", "number", "client_ip", "origin", "detail"]
    list_filter = ["code", "enterprise", "created_at"]
    search_fields = ["number", "client_ip", "origin", "detail"]
    date_hierarchy = "created_at"


@admin.register(Lead)
class LeadAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "enterprise", "callback_request", "utm_source", "utm_campaign", "page_url"]
    list_filter = ["enterprise"]
    search_fields = ["page_url", "utm_source", "utm_campaign", "callback_request__visitor_number"]
    list_select_related = ["enterprise", "callback_request", "callback_request__enterprise"]
