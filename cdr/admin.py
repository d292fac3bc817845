from django.contrib import admin

from billing.admin import ReadOnlyAdmin
from cdr.models import CallDetailRecord, CallSummary, RecordingSetting


@admin.register(CallDetailRecord)
class CallDetailRecordAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "enterprise", "role", "number", "disposition", "billable_seconds", "charge"]
    list_filter = ["role", "disposition"]
    search_fields = ["linkedid", "number"]


@admin.register(CallSummary)
class CallSummaryAdmin(ReadOnlyAdmin):
    list_display = ["placed_at", "enterprise", "visitor_number", "connected", "failed_leg", "talk_seconds"]


@admin.register(RecordingSetting)
class RecordingSettingAdmin(admin.ModelAdmin):
    list_display = ["enterprise", "enabled"]
