"""Writes of the integrations app. The two hooks other apps call are re-exported here."""

from integrations.services.events import callback_event_published, cdr_ready_published

__all__ = ["callback_event_published", "cdr_ready_published"]
