"""Celery tasks of the engine: thin, short, safe to run twice. The work is in callback.services."""

from celery import shared_task
from django.conf import settings

from callback.gateway import ami_gateway
from callback.services import nodes as node_services
from callback.services import outcomes, placement, requests
from cdr import services as cdr_services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def place_attempt(request_id: int, attempt_number: int) -> None:
    """Send the Originate for one attempt; does nothing when that attempt is placed already."""
    placement.attempt_place(request_id=request_id, attempt_number=attempt_number, gateway=ami_gateway())


@shared_task
def dispatch_due_requests() -> None:
    requests.requests_dispatch_due()


@shared_task
def reap_silent_attempts() -> None:
    """End attempts Asterisk stayed silent about, then check every node's load against its live attempts."""
    outcomes.attempts_reap(grace_seconds=settings.CALLBACK_REAPER_GRACE_SECONDS)
    node_services.node_slots_reconcile()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def attempt_finished(attempt_id: int) -> None:
    """The hand-off of a finished call to CDR writing and billing."""
    cdr_services.cdr_record_attempt(attempt_id=attempt_id)
