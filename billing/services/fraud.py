"""Short-call pumping and prefix skew (RELIABILITY.md S7), checked from CDR ingestion after each connected call.

Over the last hour of a tenant's connected calls: more than BILLING_PUMPING_SHORT_SHARE % lasting
BILLING_PUMPING_SHORT_SECONDS or less, or BILLING_PUMPING_PREFIX_SHARE % of visitor numbers under one prefix that
had less than BILLING_PUMPING_PREFIX_BASELINE_SHARE % over the week before, suspends the enterprise (new callbacks
are refused by the widget and the engine) and alerts the operator once per hour. An operator re-activates the
tenant after review. Runs outside the ingestion transaction: suspending locks the Enterprise row, which must
never be taken after a billing account's lock.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Left
from django.utils import timezone

from billing.models import FraudAlert
from cdr.models import CallSummary
from tenants import services as tenant_services
from tenants.models import Enterprise

logger = logging.getLogger(__name__)


def _short_call_suspicion(enterprise: Enterprise, since: datetime) -> str | None:
    counts = CallSummary.objects.filter(enterprise=enterprise, connected=True, ended_at__gte=since).aggregate(
        calls=Count("id"), short=Count("id", filter=Q(talk_seconds__lte=settings.BILLING_PUMPING_SHORT_SECONDS))
    )
    calls, short = counts["calls"], counts["short"]
    if calls < settings.BILLING_PUMPING_MIN_CALLS or short * 100 <= settings.BILLING_PUMPING_SHORT_SHARE * calls:
        return None
    return (
        f"{short} of {calls} connected calls in the last hour lasted {settings.BILLING_PUMPING_SHORT_SECONDS} s or less"
    )


def _prefix_skew_suspicion(enterprise: Enterprise, since: datetime) -> str | None:
    digits = settings.BILLING_PUMPING_PREFIX_DIGITS + 1  # with the '+'
    recent = CallSummary.objects.filter(enterprise=enterprise, ended_at__gte=since).exclude(visitor_number="")
    total = recent.count()
    if total < settings.BILLING_PUMPING_MIN_CALLS:
        return None
    top = (
        recent.annotate(prefix=Left("visitor_number", digits))
        .values("prefix")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if top is None or top["n"] * 100 < settings.BILLING_PUMPING_PREFIX_SHARE * total:
        return None
    baseline = CallSummary.objects.filter(
        enterprise=enterprise, ended_at__gte=since - timedelta(days=7), ended_at__lt=since
    ).exclude(visitor_number="")
    baseline_total = baseline.count()
    if baseline_total < settings.BILLING_PUMPING_MIN_CALLS:
        return None  # a new tenant has no usual pattern to skew from
    baseline_top = baseline.filter(visitor_number__startswith=top["prefix"]).count()
    if baseline_top * 100 >= settings.BILLING_PUMPING_PREFIX_BASELINE_SHARE * baseline_total:
        return None
    return (
        f"{top['n']} of {total} calls in the last hour went to {top['prefix']}…, "
        f"against {baseline_top} of {baseline_total} over the week before"
    )


def pumping_check(*, enterprise_id: int, now: datetime | None = None) -> FraudAlert | None:
    """Suspend the tenant and alert when its last hour looks like pumping; None when it does not (or did already)."""
    now = now or timezone.now()
    since = now - timedelta(hours=1)
    enterprise = Enterprise.objects.get(pk=enterprise_id)
    if enterprise.status != Enterprise.Status.ACTIVE:
        return None
    for kind, check in (
        (FraudAlert.Kind.SHORT_CALLS, _short_call_suspicion),
        (FraudAlert.Kind.PREFIX_SKEW, _prefix_skew_suspicion),
    ):
        detail = check(enterprise, since)
        if detail is None:
            continue
        if FraudAlert.objects.filter(enterprise=enterprise, kind=kind, created_at__gte=since).exists():
            return None  # alerted within the hour; an operator re-activated the tenant on purpose
        with transaction.atomic():
            alert = FraudAlert.objects.create(enterprise=enterprise, kind=kind, detail=detail[:300])
            tenant_services.enterprise_update(enterprise=enterprise, status=Enterprise.Status.SUSPENDED)
            transaction.on_commit(lambda alert=alert: _alert_operators(alert))
        logger.warning("billing.fraud.suspended enterprise=%s kind=%s detail=%s", enterprise.pk, kind, detail)
        return alert
    return None


def _alert_operators(alert: FraudAlert) -> None:
    if not settings.BILLING_ALERT_EMAILS:
        return
    try:
        send_mail(
            f"Huibo: enterprise {alert.enterprise_id} suspended ({alert.kind})",
            f"{alert.detail}\nNew callbacks are refused until an operator re-activates the enterprise.",
            None,
            settings.BILLING_ALERT_EMAILS,
        )
    except OSError as error:
        logger.error("billing.fraud.mail_failed enterprise=%s error=%s", alert.enterprise_id, error)
