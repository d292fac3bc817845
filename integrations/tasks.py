"""Celery tasks of integrations: thin, short, safe to run twice. The work is in integrations.services."""

from celery import shared_task
from django.conf import settings

from integrations.services import events, heartbeat, idempotency, webhooks


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> None:  # type: ignore[no-untyped-def]
    """One try of a webhook delivery; a failed try is retried with backoff on the same (webhook) queue."""
    result = webhooks.webhook_delivery_attempt(delivery_id=delivery_id)
    if result is not None and result.retry_in_seconds is not None:
        raise self.retry(countdown=result.retry_in_seconds, queue=settings.INTEGRATIONS_WEBHOOK_QUEUE)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def callback_moved(**kwargs: object) -> None:
    """Fan a request's move out to webhooks and metrics, off the listener's thread."""
    events.callback_moved(**kwargs)  # type: ignore[arg-type]


@shared_task
def dispatch_overdue_webhooks() -> None:
    webhooks.webhook_deliveries_dispatch_due()


@shared_task
def purge_idempotency_records() -> None:
    idempotency.idempotency_records_purge()


@shared_task
def worker_heartbeat(queue: str) -> None:
    heartbeat.worker_heartbeat_record(queue=queue)
