"""Invoices: monthly per tenant (and on demand up to any date), numbered without gaps, immutable once issued.

Lifecycle: ``invoice_issue`` takes the next number of its series under a row lock, marks every rated CDR of the
tenant that ended before the period's end and is on no invoice yet, and writes one line per leg and destination
group from exactly the rows it marked (one statement: the lines are the CDRs, to the cent, B3). An invoice with
nothing on it is not issued (and uses no number). ``invoice_void`` turns an issued invoice into ``voided``, issues
a credit note for its full amount in the credit-note series, and frees its CDRs for a corrected invoice.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import BillingAccount, Invoice, InvoiceLine, InvoiceSequence
from billing.money import ZERO, quantize_invoice, quantize_money
from cdr.models import CallDetailRecord
from huibo.errors import ApplicationError
from tenants.models import Enterprise

logger = logging.getLogger(__name__)

# Tenants invoiced per transaction in the monthly run.
_MONTH_RUN_BATCH = 25


class InvoiceError(ApplicationError):
    pass


def _next_number(series: str) -> int:
    """The next number of a series; the row lock serialises issuers and a rollback gives the number back."""
    InvoiceSequence.objects.get_or_create(series=series)
    sequence = InvoiceSequence.objects.select_for_update().get(series=series)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return sequence.last_number


def _instant(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


@dataclass(frozen=True)
class _Totals:
    subtotal: Decimal
    net: Decimal
    tax: Decimal


def _totals(subtotal: Decimal, tax_rate: Decimal) -> _Totals:
    net = quantize_invoice(subtotal)
    tax = quantize_invoice(net * tax_rate)
    return _Totals(subtotal=quantize_money(subtotal), net=net, tax=tax)


def invoice_issue(
    *,
    enterprise: Enterprise,
    period_start: date,
    period_end: date,
    issued_by: AbstractBaseUser | None = None,
    now: datetime | None = None,
    once: bool = False,
) -> Invoice | None:
    """Invoice the tenant's uninvoiced rated CDRs that ended before ``period_end`` (exclusive, tenant's time zone).

    Returns None when there is nothing to invoice, or with ``once`` when this tenant already has an invoice for
    exactly this period. Late CDRs of an earlier, already invoiced period land on the next invoice, so no CDR is
    ever left out.
    """
    if period_start >= period_end:
        raise InvoiceError("invalid_period", _("The period must end after it starts."))
    with transaction.atomic():
        claim = _claim(enterprise=enterprise, period_start=period_start, period_end=period_end, once=once)
        if claim is None:
            return None
        return _write_invoice(claim, now=now or timezone.now(), issued_by=issued_by)


Group = tuple[str, str, int, int, Decimal]


@dataclass(frozen=True)
class _Claim:
    """A tenant's CDRs, marked for an invoice not written yet (same transaction), and their sums."""

    enterprise: Enterprise
    account: BillingAccount
    period_start: date
    period_end: date
    invoice_id: int | None
    marked_ids: list[int] | None
    groups: list[Group]


def _claim(*, enterprise: Enterprise, period_start: date, period_end: date, once: bool) -> _Claim | None:
    account = BillingAccount.objects.select_for_update().filter(enterprise=enterprise).first()
    if account is None:
        raise InvoiceError("no_billing_account", _("This enterprise has no billing account."))
    if (
        once
        and Invoice.objects.filter(
            enterprise=enterprise, kind=Invoice.Kind.INVOICE, period_start=period_start, period_end=period_end
        ).exists()
    ):
        return None
    until = _instant(period_end, enterprise.time_zone)
    invoice_id, marked_ids, groups = _mark_cdrs(enterprise_id=enterprise.pk, until=until)
    if not groups:
        return None
    return _Claim(enterprise, account, period_start, period_end, invoice_id, marked_ids, groups)


def _write_invoice(claim: _Claim, *, now: datetime, issued_by: AbstractBaseUser | None) -> Invoice:
    """Number the claim and write its invoice and lines. The numbering lock is held from here to the commit."""
    account = claim.account
    series = f"INV-{claim.period_start.year}"
    sequence = _next_number(series)
    totals = _totals(sum((quantize_money(group[4]) for group in claim.groups), ZERO), account.tax_rate)
    invoice = Invoice.objects.create(
        id=claim.invoice_id,
        enterprise=claim.enterprise,
        account=account,
        kind=Invoice.Kind.INVOICE,
        number=f"{series}-{sequence:06d}",
        series=series,
        sequence=sequence,
        period_start=claim.period_start,
        period_end=claim.period_end,
        currency=account.currency,
        language=account.language,
        tax_rate=account.tax_rate,
        subtotal=totals.subtotal,
        net_amount=totals.net,
        tax_amount=totals.tax,
        total_amount=totals.net + totals.tax,
        issued_at=now,
        issued_by=issued_by if issued_by is not None and issued_by.is_authenticated else None,
    )
    if claim.marked_ids is not None:
        CallDetailRecord.objects.filter(pk__in=claim.marked_ids).update(invoice=invoice)
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            enterprise=claim.enterprise,
            leg=role,
            destination_group=group,
            legs=count,
            billed_seconds=seconds,
            amount=quantize_money(amount),
        )
        for role, group, count, seconds, amount in claim.groups
    )
    logger.info(
        "billing.invoice.issued enterprise=%s number=%s net=%s", claim.enterprise.pk, invoice.number, invoice.net_amount
    )
    return invoice


def _mark_cdrs(*, enterprise_id: int, until: datetime) -> tuple[int | None, list[int] | None, list[Group]]:
    """Claim the tenant's uninvoiced rated CDRs ended before ``until`` and sum them per leg and destination group.

    On PostgreSQL one statement marks the rows with the invoice's id (taken from its sequence in advance; the
    foreign key is checked at commit) and sums exactly the rows it marked. Elsewhere (the embedded SQLite demo)
    the ids are read first and marked once the invoice exists.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence('billing_invoice', 'id'))")
            invoice_id = cursor.fetchone()[0]
            cursor.execute(
                "WITH marked AS ("
                "  UPDATE cdr_calldetailrecord SET invoice_id = %s"
                "  WHERE enterprise_id = %s AND invoice_id IS NULL AND ended_at < %s AND charge IS NOT NULL"
                "  RETURNING role, destination_group, billed_seconds, charge"
                ") SELECT role, destination_group, count(*), coalesce(sum(billed_seconds), 0), sum(charge)"
                " FROM marked GROUP BY role, destination_group ORDER BY role, destination_group",
                [invoice_id, enterprise_id, until],
            )
            return invoice_id, None, list(cursor.fetchall())
    pending = CallDetailRecord.objects.select_for_update().filter(
        enterprise_id=enterprise_id, invoice__isnull=True, ended_at__lt=until, charge__isnull=False
    )
    ids = list(pending.values_list("pk", flat=True))
    groups = (
        CallDetailRecord.objects.filter(pk__in=ids)
        .values_list("role", "destination_group")
        .annotate(n=Count("id"), seconds=Coalesce(Sum("billed_seconds"), 0), amount=Sum("charge"))
        .order_by("role", "destination_group")
    )
    return None, ids, [(role, group, n, seconds, amount) for role, group, n, seconds, amount in groups]


def month_bounds(year: int, month: int) -> tuple[date, date]:
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return start, end


def invoices_issue_month(
    *,
    year: int,
    month: int,
    issued_by: AbstractBaseUser | None = None,
    batch_size: int = _MONTH_RUN_BATCH,
    workers: int = 2,
) -> list[Invoice]:
    """The monthly run: one invoice per billed tenant with usage; a tenant invoiced for the month already is skipped.

    Tenants go ``batch_size`` to a transaction: first every tenant's CDRs are claimed and summed (each in its own
    savepoint: a tenant that fails is logged and skipped), then the batch's invoices are numbered and written
    together, so the numbering lock is held only for that short step. Outside a caller's transaction, ``workers``
    batches run at once, each on its own connection. Safe to run again: it picks up where it stopped.
    """
    start, end = month_bounds(year, month)
    done = set(
        Invoice.objects.filter(kind=Invoice.Kind.INVOICE, period_start=start, period_end=end).values_list(
            "enterprise_id", flat=True
        )
    )
    pending = [e for e in Enterprise.objects.filter(billing_account__isnull=False).order_by("pk") if e.pk not in done]
    batches = [pending[offset : offset + batch_size] for offset in range(0, len(pending), batch_size)]
    now = timezone.now()

    def run(batch: list[Enterprise]) -> list[Invoice]:
        try:
            return _issue_batch(batch, period=(start, end), now=now, issued_by=issued_by)
        except DatabaseError as error:
            logger.error("billing.invoice.batch_failed first=%s error=%s", batch[0].pk, error)
            return []

    if workers <= 1 or connection.in_atomic_block:
        issued = [invoice for batch in batches for invoice in run(batch)]
    else:

        def run_on_own_connection(batch: list[Enterprise]) -> list[Invoice]:
            try:
                return run(batch)
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="billing-invoices") as pool:
            issued = [invoice for invoices in pool.map(run_on_own_connection, batches) for invoice in invoices]
    logger.info("billing.invoice.month_run year=%s month=%s issued=%s", year, month, len(issued))
    return sorted(issued, key=lambda invoice: invoice.sequence)


def _issue_batch(
    batch: list[Enterprise], *, period: tuple[date, date], now: datetime, issued_by: AbstractBaseUser | None
) -> list[Invoice]:
    with transaction.atomic():
        claims = []
        for enterprise in batch:
            try:
                with transaction.atomic():
                    claim = _claim(enterprise=enterprise, period_start=period[0], period_end=period[1], once=True)
            except (ApplicationError, DatabaseError) as error:
                logger.error("billing.invoice.month_run_failed enterprise=%s error=%s", enterprise.pk, error)
                continue
            if claim is not None:
                claims.append(claim)
        return [_write_invoice(claim, now=now, issued_by=issued_by) for claim in claims]


def invoice_void(*, invoice: Invoice, reason: str, voided_by: AbstractBaseUser | None = None) -> Invoice:
    """Void an issued invoice with a credit note for its full amount; its CDRs become invoiceable again."""
    if not reason.strip():
        raise InvoiceError("reason_required", _("Say why the invoice is voided."))
    with transaction.atomic():
        BillingAccount.objects.select_for_update().get(pk=invoice.account_id)
        original = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if original.kind != Invoice.Kind.INVOICE or original.status != Invoice.Status.ISSUED:
            raise InvoiceError("not_voidable", _("Only an issued invoice can be voided."))
        now = timezone.now()
        series = f"CN-{now.year}"
        sequence = _next_number(series)
        credit = Invoice.objects.create(
            enterprise_id=original.enterprise_id,
            account_id=original.account_id,
            kind=Invoice.Kind.CREDIT_NOTE,
            number=f"{series}-{sequence:06d}",
            series=series,
            sequence=sequence,
            period_start=original.period_start,
            period_end=original.period_end,
            currency=original.currency,
            language=original.language,
            tax_rate=original.tax_rate,
            subtotal=-original.subtotal,
            net_amount=-original.net_amount,
            tax_amount=-original.tax_amount,
            total_amount=-original.total_amount,
            credits=original,
            note=reason.strip()[:300],
            issued_at=now,
            issued_by=voided_by if voided_by is not None and voided_by.is_authenticated else None,
        )
        InvoiceLine.objects.bulk_create(
            InvoiceLine(
                invoice=credit,
                enterprise_id=line.enterprise_id,
                leg=line.leg,
                destination_group=line.destination_group,
                legs=line.legs,
                billed_seconds=-line.billed_seconds,
                amount=-line.amount,
            )
            for line in original.lines.all()
        )
        Invoice.objects.filter(pk=original.pk).update(status=Invoice.Status.VOIDED, voided_at=now)
        CallDetailRecord.objects.filter(enterprise_id=original.enterprise_id, invoice=original).update(invoice=None)
    logger.info("billing.invoice.voided number=%s credit_note=%s", original.number, credit.number)
    return credit
