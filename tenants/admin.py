"""Operator staff manage tenants here. Validation is the services' own, so admin and portal agree."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from huibo.errors import ApplicationError
from tenants.models import BoundNumber, Enterprise, Holiday, Membership, WorkingHours
from tenants.phone import normalize_e164
from tenants.services import OpeningInterval, validate_intervals


class BoundNumberAdminForm(forms.ModelForm):
    class Meta:
        model = BoundNumber
        fields = ["enterprise", "number", "label", "priority", "enabled", "ring_timeout_seconds"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        enterprise = cleaned.get("enterprise") or getattr(self.instance, "enterprise", None)
        if cleaned.get("number"):
            region = enterprise.default_country if enterprise else None
            try:
                cleaned["number"] = normalize_e164(cleaned["number"], default_region=region)
            except ApplicationError as error:
                self.add_error("number", error.message)
        return cleaned


class WorkingHoursFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        intervals = [
            OpeningInterval(f.cleaned_data["weekday"], f.cleaned_data["opens_at"], f.cleaned_data["closes_at"])
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        try:
            validate_intervals(intervals)
        except ApplicationError as error:
            raise ValidationError(error.message) from error


class BoundNumberInline(admin.TabularInline):
    model = BoundNumber
    form = BoundNumberAdminForm
    extra = 0


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    formset = WorkingHoursFormSet
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Enterprise)
class EnterpriseAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status", "hunting_strategy", "call_order", "max_concurrent_calls", "created_at"]
    list_filter = ["status", "hunting_strategy", "call_order"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["public_key", "created_at"]
    inlines = [BoundNumberInline, WorkingHoursInline, HolidayInline, MembershipInline]

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        enterprise = form.instance
        if enterprise.status == Enterprise.Status.ACTIVE and not enterprise.bound_numbers.filter(enabled=True).exists():
            # Inlines are saved after the parent, so the rule can only be checked here; suspend rather than
            # leave an active enterprise that hunts over nothing.
            Enterprise.objects.filter(pk=enterprise.pk).update(status=Enterprise.Status.SUSPENDED)
            self.message_user(request, _("Suspended: an active enterprise needs an enabled bound number."), "warning")


@admin.register(BoundNumber)
class BoundNumberAdmin(admin.ModelAdmin):
    form = BoundNumberAdminForm
    list_display = ["number", "label", "enterprise", "priority", "enabled"]
    list_filter = ["enabled", "enterprise"]
    search_fields = ["number", "label", "enterprise__name"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "enterprise", "role"]
    list_filter = ["role", "enterprise"]
    autocomplete_fields = ["user", "enterprise"]
