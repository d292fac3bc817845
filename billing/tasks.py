"""Celery tasks of billing: thin and safe to run twice."""

from celery import shared_task
from django.utils import timezone

from billing.services import invoices_issue_month, reservations_release_stale


@shared_task
def issue_monthly_invoices() -> None:
    """Last month's invoices, once the month is over; a tenant already invoiced for it gets nothing more."""
    today = timezone.now().date()
    year, month = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    invoices_issue_month(year=year, month=month)


@shared_task
def release_stale_reservations() -> None:
    """Funds held by calls whose hand-off never came go back to the balance."""
    reservations_release_stale()
