"""Operator administration of rate plans and billing accounts. Money moves only through the console's forms
(billing.services); ledger entries and invoices are shown read-only here."""

from django.contrib import admin

from billing.models import BillingAccount, FraudAlert, Invoice, LedgerEntry, LowBalanceThreshold, Rate, RatePlan


class RateInline(admin.TabularInline):
    model = Rate
    extra = 1


@admin.register(RatePlan)
class RatePlanAdmin(admin.ModelAdmin):
    list_display = ["name", "currency", "unanswered_free"]
    inlines = [RateInline]


class ThresholdInline(admin.TabularInline):
    model = LowBalanceThreshold
    fields = ["amount", "armed"]
    readonly_fields = ["armed"]
    extra = 1


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ["enterprise", "rate_plan", "currency", "credit_limit", "daily_spend_cap", "tax_rate"]
    inlines = [ThresholdInline]

    def save_formset(self, request, form, formset, change):  # type: ignore[no-untyped-def]
        for threshold in formset.save(commit=False):
            threshold.enterprise_id = form.instance.enterprise_id
            threshold.save()
        for removed in formset.deleted_objects:
            removed.delete()

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return ["enterprise", "currency"] if obj else []


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "enterprise", "kind", "amount", "balance_after", "reason", "created_by"]
    list_filter = ["kind"]


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["number", "enterprise", "kind", "status", "period_start", "period_end", "total_amount"]
    list_filter = ["kind", "status"]


@admin.register(FraudAlert)
class FraudAlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "enterprise", "kind", "detail"]
