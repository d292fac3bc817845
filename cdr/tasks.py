"""Celery tasks of the CDR app: thin and safe to run twice."""

from celery import shared_task

from cdr import services


@shared_task
def reconcile_recent() -> None:
    """Late Asterisk Cdrs and recordings: fill them in on the calls already recorded."""
    services.cdrs_reconcile_recent()
