"""Invoices: the sum of their CDRs to the cent (B3), numbered without gaps, immutable, corrected by credit notes."""

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import InternalError, connection, transaction

from billing import services as billing_services
from billing.documents import invoice_csv, invoice_pdf
from billing.models import Invoice, InvoiceLine
from billing.tests.helpers import billed_enterprise, end_call, place_call
from cdr.models import CallDetailRecord
from cdr.services import cdr_record_attempt
from conftest import make_enterprise
from tenants.models import Enterprise

D = Decimal
pytestmark = pytest.mark.django_db

NOVEMBER = (date(2026, 11, 1), date(2026, 12, 1))
IN_NOVEMBER = datetime(2026, 11, 20, tzinfo=UTC)
DECEMBER_2026 = datetime(2026, 12, 15, tzinfo=UTC)


def _calls(enterprise: Enterprise, talks: list[int], visitor: str = "+8613900001005") -> None:
    """Calls placed now, their CDRs dated in November: whatever today is, they belong to the invoiced period."""
    for talk in talks:
        attempt = place_call(enterprise, visitor=visitor)
        assert attempt is not None
        end_call(attempt, talk_seconds=talk)
        cdr_record_attempt(attempt_id=attempt.pk)
        CallDetailRecord.objects.filter(attempt_id=attempt.pk).update(ended_at=IN_NOVEMBER)


def _issue(enterprise: Enterprise) -> Invoice | None:
    return billing_services.invoice_issue(
        enterprise=enterprise, period_start=NOVEMBER[0], period_end=NOVEMBER[1], now=DECEMBER_2026
    )


def test_an_invoice_is_the_sum_of_its_cdrs_to_the_cent(enterprise: Enterprise) -> None:
    # given calls to a 139 mobile and to a 138 mobile, and a 6 % tax rate
    billed_enterprise(enterprise, top_up="100", tax_rate=D("0.06"))
    _calls(enterprise, [7, 61, 300])
    _calls(enterprise, [13], visitor="+8613800002222")
    # when
    invoice = _issue(enterprise)
    # then
    assert invoice is not None
    cdrs = CallDetailRecord.objects.filter(invoice=invoice)
    assert cdrs.count() == 8
    exact = sum((cdr.charge for cdr in cdrs), D(0))
    assert invoice.subtotal == exact
    assert invoice.net_amount == exact.quantize(D("0.01"))
    assert sum((line.amount for line in invoice.lines.all()), D(0)) == exact
    assert invoice.tax_amount == (invoice.net_amount * D("0.06")).quantize(D("0.01"))
    assert invoice.total_amount == invoice.net_amount + invoice.tax_amount
    lines = {(line.leg, line.destination_group): (line.legs, line.billed_seconds) for line in invoice.lines.all()}
    assert lines == {
        ("enterprise", "China mobile"): (4, 12 + 66 + 306 + 18),
        ("visitor", "China Mobile 139"): (3, 12 + 66 + 300),
        ("visitor", "China mobile"): (1, 18),
    }


def test_re_rating_twice_changes_nothing(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="100")
    _calls(enterprise, [7, 61])
    before = dict(CallDetailRecord.objects.values_list("pk", "charge"))
    first = billing_services.cdrs_rate()
    second = billing_services.cdrs_rate()
    assert (first.legs, first.changed, second.changed) == (4, 0, 0)
    assert dict(CallDetailRecord.objects.values_list("pk", "charge")) == before


def test_re_rating_after_a_price_change_books_the_difference_once(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="100")
    _calls(enterprise, [30])
    from billing.models import LedgerEntry, Rate

    Rate.objects.filter(destination_group="China mobile").update(price_per_minute=D("0.24"))
    assert billing_services.cdrs_rate().changed == 1
    assert billing_services.cdrs_rate().changed == 0
    enterprise_leg = CallDetailRecord.objects.get(role="enterprise")
    assert enterprise_leg.charge == D("0.144")  # 36 s at 0.24
    booked = sum(LedgerEntry.objects.filter(reference=f"cdr:{enterprise_leg.pk}").values_list("amount", flat=True))
    assert booked == -D("0.144")


def test_invoice_numbers_have_no_gaps_and_an_empty_invoice_takes_none() -> None:
    tenants = [make_enterprise(f"t{i}", numbers=(f"+861380000{i:04d}",)) for i in range(4)]
    for index, tenant in enumerate(tenants):
        billed_enterprise(tenant, top_up="10")
        if index != 1:
            _calls(tenant, [10])
    issued = [_issue(tenant) for tenant in tenants]
    assert issued[1] is None
    assert [invoice.number for invoice in issued if invoice] == [
        "INV-2026-000001",
        "INV-2026-000002",
        "INV-2026-000003",
    ]


@pytest.mark.django_db(transaction=True)
def test_invoices_issued_at_once_take_consecutive_numbers() -> None:
    tenants = [make_enterprise(f"c{i}", numbers=(f"+861380000{i:04d}",)) for i in range(8)]
    for tenant in tenants:
        billed_enterprise(tenant, top_up="10")
        _calls(tenant, [10])
    barrier = threading.Barrier(len(tenants))

    def issue(tenant: Enterprise) -> None:
        try:
            barrier.wait()
            _issue(tenant)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=(tenant,)) for tenant in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(Invoice.objects.values_list("sequence", flat=True)) == list(range(1, 9))


def test_an_issued_invoice_cannot_be_changed_or_deleted(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="10")
    _calls(enterprise, [10])
    invoice = _issue(enterprise)
    for change in (
        lambda: Invoice.objects.filter(pk=invoice.pk).update(net_amount=D("0"), total_amount=D("0")),
        lambda: Invoice.objects.filter(pk=invoice.pk).update(number="INV-2026-999999"),
        lambda: connection.cursor().execute("DELETE FROM billing_invoice WHERE id = %s", [invoice.pk]),
        lambda: InvoiceLine.objects.filter(invoice=invoice).update(amount=D("0")),
        lambda: InvoiceLine.objects.filter(invoice=invoice).delete(),
    ):
        with pytest.raises(InternalError), transaction.atomic():
            change()
    invoice.refresh_from_db()
    assert invoice.status == "issued" and invoice.lines.count() == 2


def test_voiding_issues_a_credit_note_and_frees_the_cdrs_for_a_corrected_invoice(enterprise: Enterprise) -> None:
    # given
    billed_enterprise(enterprise, top_up="10")
    _calls(enterprise, [10])
    invoice = _issue(enterprise)
    # when
    credit = billing_services.invoice_void(invoice=invoice, reason="wrong tax rate")
    # then
    invoice.refresh_from_db()
    assert invoice.status == "voided" and invoice.voided_at is not None
    assert credit.kind == "credit_note" and credit.number.startswith("CN-") and credit.credits == invoice
    assert credit.total_amount == -invoice.total_amount and credit.note == "wrong tax rate"
    assert sum(line.amount for line in credit.lines.all()) == -invoice.subtotal
    assert not CallDetailRecord.objects.filter(invoice__isnull=False).exists()
    corrected = _issue(enterprise)
    assert corrected is not None and corrected.number == "INV-2026-000002"
    assert corrected.subtotal == invoice.subtotal
    with pytest.raises(billing_services.invoices.InvoiceError):
        billing_services.invoice_void(invoice=invoice, reason="again")


def test_the_monthly_run_invoices_each_billed_tenant_once(enterprise: Enterprise, other_enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="10")
    billed_enterprise(other_enterprise, top_up="10")
    _calls(enterprise, [10])
    today = datetime.now(UTC)
    assert len(billing_services.invoices_issue_month(year=today.year + 1, month=1)) == 1
    assert billing_services.invoices_issue_month(year=today.year + 1, month=1) == []


def test_the_invoice_pdf_and_csv_are_in_the_tenants_language(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="10", language="zh-hans")
    _calls(enterprise, [10])
    invoice = _issue(enterprise)
    pdf = invoice_pdf(invoice)
    assert pdf.startswith(b"%PDF") and b"STSong-Light" in pdf
    text = invoice_csv(invoice)
    assert invoice.number in text and str(invoice.net_amount) in text


@pytest.mark.django_db(transaction=True)
def test_the_monthly_run_on_two_connections_numbers_without_gaps_and_matches_the_cdrs() -> None:
    tenants = [make_enterprise(f"m{i}", numbers=(f"+8613800001{i:03d}",)) for i in range(7)]
    for index, tenant in enumerate(tenants):
        billed_enterprise(tenant, top_up="10")
        if index != 3:
            _calls(tenant, [10 + index])
    today = datetime.now(UTC)
    issued = billing_services.invoices_issue_month(year=today.year + 1, month=1, batch_size=2, workers=2)
    assert [invoice.sequence for invoice in issued] == [1, 2, 3, 4, 5, 6]
    for invoice in issued:
        cdrs = CallDetailRecord.objects.filter(invoice=invoice)
        assert invoice.subtotal == sum((cdr.charge for cdr in cdrs), D(0)) and cdrs.count() == 2
    assert billing_services.invoices_issue_month(year=today.year + 1, month=1, batch_size=2, workers=2) == []
