from django.contrib import admin

from callback.models import AsteriskNode, CallAttempt, CallbackEvent, CallbackRequest, CallLeg


@admin.register(AsteriskNode)
class AsteriskNodeAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "port", "enabled", "ami_state", "ami_state_changed_at", "channel_capacity"]
    list_filter = ["enabled", "ami_state"]
    readonly_fields = ["booted_at", "ami_state", "ami_state_changed_at", "ami_state_reason", "from_environment"]

    def save_model(self, request, obj, form, change) -> None:  # type: ignore[no-untyped-def]
        # Only what the form edits: a whole-row save would write back the load counter as it was when the page
        # was opened, over the placements made since (callback.services.nodes).
        obj.save(update_fields=form.changed_data if change else None)


class CallbackEventInline(admin.TabularInline):
    model = CallbackEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "from_status", "to_status", "event", "reason_code", "detail", "attempt"]
    exclude = ["enterprise"]


class CallAttemptInline(admin.TabularInline):
    model = CallAttempt
    extra = 0
    can_delete = False
    fields = ["number", "node", "enterprise_number", "visitor_number", "status", "outcome", "channel_id", "ended_at"]
    readonly_fields = fields


@admin.register(CallbackRequest)
class CallbackRequestAdmin(admin.ModelAdmin):
    """Read-only: requests change only through the engine's state machine."""

    list_display = ["id", "enterprise", "visitor_number", "status", "reason_code", "source", "created_at"]
    list_filter = ["status", "source", "enterprise"]
    search_fields = ["visitor_number", "enterprise__name", "correlation_id"]
    inlines = [CallAttemptInline, CallbackEventInline]

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(CallLeg)
class CallLegAdmin(admin.ModelAdmin):
    list_display = ["attempt", "role", "number", "disposition", "hangup_cause", "answered_at", "ended_at"]
    list_filter = ["role", "disposition"]
