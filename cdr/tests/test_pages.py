"""The portal's call and billing pages and the operator console: an enterprise admin sees their own tenant's CDRs,
recordings, invoices and top-ups and nothing of any other tenant, through any page, export or URL (S9)."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, reverse

from billing import services as billing_services
from billing.models import Invoice, LedgerEntry
from billing.tests.helpers import billed_enterprise, end_call, place_call
from billing.urls import urlpatterns as billing_urls
from cdr.models import CallSummary
from cdr.services import cdr_record_attempt, recording_set
from cdr.urls import urlpatterns as cdr_urls
from tenants.models import Enterprise, Membership

D = Decimal
pytestmark = pytest.mark.django_db


def _tenant_with_history(enterprise: Enterprise, visitor: str, recordings: Path) -> dict[str, int]:
    """A billed tenant with one recorded, connected call, a top-up, and an invoice."""
    billed_enterprise(enterprise, top_up="20")
    recording_set(enterprise=enterprise, enabled=True)
    attempt = place_call(enterprise, visitor=visitor)
    end_call(attempt, talk_seconds=42)
    (recordings / f"{attempt.channel_id}.wav").write_bytes(b"RIFF" + visitor.encode() + b"WAVE")
    cdr_record_attempt(attempt_id=attempt.pk)
    invoice = billing_services.invoice_issue(
        enterprise=enterprise, period_start=date(2026, 1, 1), period_end=date(2099, 1, 1)
    )
    return {
        "call": CallSummary.objects.get(enterprise=enterprise).pk,
        "invoice": invoice.pk,
        "linkedid": attempt.channel_id,
    }


@pytest.fixture
def two_tenants(enterprise: Enterprise, other_enterprise: Enterprise, settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings.CDR_RECORDINGS_DIR = tmp_path
    mine = _tenant_with_history(enterprise, "+8613900001005", tmp_path)
    theirs = _tenant_with_history(other_enterprise, "+8613900007777", tmp_path)
    return mine, theirs


def _portal_urls(ids: dict[str, int]) -> list[str]:
    """Every portal URL of cdr and billing, with ``ids`` in any object slot."""
    urls = []
    for namespace, patterns in (("cdr", cdr_urls), ("billing", billing_urls)):
        for pattern in patterns:
            assert isinstance(pattern, URLPattern)
            kwargs = {}
            if "pk" in pattern.pattern.regex.groupindex:
                kwargs["pk"] = ids["invoice"] if namespace == "billing" else ids["call"]
            urls.append(reverse(f"{namespace}:{pattern.name}", kwargs=kwargs))
    return [*urls, reverse("billing_dashboard")]


def test_an_enterprise_admin_sees_every_page_of_their_own_tenant(client: Client, enterprise_admin, two_tenants) -> None:  # type: ignore[no-untyped-def]
    mine, _theirs = two_tenants
    client.force_login(enterprise_admin)
    for url in _portal_urls(mine):
        response = client.get(url)
        assert response.status_code == 200, url
    play = client.get(reverse("cdr:recording_play", kwargs={"pk": mine["call"]}))
    assert b"".join(play.streaming_content) == b"RIFF+8613900001005WAVE"
    assert client.get(reverse("billing:invoice_pdf", kwargs={"pk": mine["invoice"]})).content.startswith(b"%PDF")


def test_no_portal_page_export_or_url_reaches_another_tenant(client: Client, enterprise_admin, two_tenants) -> None:  # type: ignore[no-untyped-def]
    # given
    mine, theirs = two_tenants
    client.force_login(enterprise_admin)
    their_invoice = Invoice.objects.get(pk=theirs["invoice"])
    their_top_up = LedgerEntry.objects.get(enterprise_id=their_invoice.enterprise_id, kind="top_up")
    # when every URL is tried with their ids, then each object URL is a 404
    for url in _portal_urls(theirs):
        response = client.get(url)
        if any(str(theirs[key]) in url for key in ("call", "invoice")):
            assert response.status_code == 404, url
    # and no list, export or dashboard shows anything of theirs, whatever the query string says
    their_traces = ["+8613900007777", theirs["linkedid"], their_invoice.number, their_top_up.key, "Enterprise globex"]
    for url in _portal_urls(mine):
        for query in ("", f"?enterprise={their_invoice.enterprise_id}&number=7777", "?show=top_ups"):
            response = client.get(url + query)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            for trace in their_traces:
                assert trace.encode() not in body, (url, query, trace)


def test_a_viewer_reads_but_cannot_turn_recording_on(client: Client, enterprise: Enterprise, django_user_model) -> None:  # type: ignore[no-untyped-def]
    viewer = django_user_model.objects.create_user("acme-viewer", password="pw-viewer-1")
    Membership.objects.create(user=viewer, enterprise=enterprise, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    assert client.get(reverse("cdr:recordings")).status_code == 200
    assert client.post(reverse("cdr:recording_settings"), {"enabled": "on"}).status_code == 403
    assert not CallSummary.objects.exists()


def test_the_cdr_list_runs_a_fixed_number_of_queries(
    client: Client, enterprise_admin, enterprise, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    billed_enterprise(enterprise, top_up="50")
    for _ in range(5):
        attempt = place_call(enterprise)
        end_call(attempt, talk_seconds=10)
        cdr_record_attempt(attempt_id=attempt.pk)
    client.force_login(enterprise_admin)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("cdr:cdrs")).status_code == 200


def test_enterprise_admins_cannot_open_the_billing_console(client: Client, enterprise_admin, two_tenants) -> None:  # type: ignore[no-untyped-def]
    client.force_login(enterprise_admin)
    mine, _theirs = two_tenants
    for name, kwargs in [
        ("console:cdrs", {}),
        ("console:cdrs_export", {}),
        ("console:cdr_traffic", {}),
        ("console:cdr_recording_play", {"pk": mine["call"]}),
        ("console:billing_accounts", {}),
        ("console:billing_account", {"enterprise_id": 1}),
        ("console:billing_account_ledger_csv", {"enterprise_id": 1}),
        ("console:billing_invoices", {}),
        ("console:billing_invoice_pdf", {"pk": mine["invoice"]}),
        ("console:billing_rate_plans", {}),
        ("console:billing_fraud", {}),
    ]:
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 302, name


def test_staff_see_every_tenants_cdrs_and_traffic(client: Client, admin_user, two_tenants) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    page = client.get(reverse("console:cdrs")).content.decode()
    assert "+8613900001005" in page and "+8613900007777" in page
    export = b"".join(client.get(reverse("console:cdrs_export")).streaming_content).decode()
    assert export.count("\n") == 5 and "Enterprise globex" in export
    traffic = client.get(reverse("console:cdr_traffic")).content.decode()
    assert "Enterprise acme" in traffic and "pbx-1" in traffic and "100.0 %" in traffic


def test_staff_top_up_records_who_and_why_and_a_double_submit_books_once(
    client: Client, admin_user, enterprise: Enterprise
) -> None:  # type: ignore[no-untyped-def]
    billed_enterprise(enterprise, top_up=None)
    client.force_login(admin_user)
    url = reverse("console:billing_account", kwargs={"enterprise_id": enterprise.pk})
    form = {"kind": "top_up", "amount": "100.00", "reason": "bank transfer #881", "key": "form:abc"}
    for _twice in range(2):
        assert client.post(url, form).status_code == 302
    entry = LedgerEntry.objects.get(enterprise=enterprise)
    assert (entry.amount, entry.reason, entry.created_by) == (D("100"), "bank transfer #881", admin_user)


def test_the_ledger_downloads_as_csv_for_the_tenant_and_for_staff(
    client: Client, enterprise_admin, admin_user, enterprise: Enterprise, other_enterprise: Enterprise
) -> None:  # type: ignore[no-untyped-def]
    import csv
    import io

    # given a top-up booked by staff, and another tenant's
    billed_enterprise(enterprise, top_up=None)
    billed_enterprise(other_enterprise, top_up="99")
    client.force_login(admin_user)
    form = {"kind": "top_up", "amount": "100.00", "reason": "bank transfer #881", "key": "form:csv"}
    client.post(reverse("console:billing_account", kwargs={"enterprise_id": enterprise.pk}), form)

    def rows(url: str) -> list[dict[str, str]]:
        text = b"".join(client.get(url).streaming_content).decode()
        return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))

    # when staff export it, they see who booked it
    staff = rows(reverse("console:billing_account_ledger_csv", kwargs={"enterprise_id": enterprise.pk}))
    assert [(r["Amount"], r["Balance after"], r["Reason"], r["By"]) for r in staff] == [
        ("100.0000", "100.0000", "bank transfer #881", admin_user.username)
    ]
    # and the tenant sees its own ledger only, without the operator's staff names
    client.force_login(enterprise_admin)
    mine = rows(reverse("billing:ledger_csv"))
    assert [(r["Kind"], r["Amount"]) for r in mine] == [("Top-up", "100.0000")]
    assert "By" not in mine[0]


def test_staff_void_an_invoice_with_a_credit_note(client: Client, admin_user, two_tenants) -> None:  # type: ignore[no-untyped-def]
    mine, _theirs = two_tenants
    client.force_login(admin_user)
    client.post(reverse("console:billing_invoice_void", kwargs={"pk": mine["invoice"]}), {"reason": "duplicate"})
    assert Invoice.objects.get(pk=mine["invoice"]).status == "voided"
    assert Invoice.objects.get(credits_id=mine["invoice"]).kind == "credit_note"
    assert "CN-" in client.get(reverse("console:billing_invoices")).content.decode()


def test_an_enterprise_admin_sets_their_low_balance_alerts(client: Client, enterprise_admin, enterprise) -> None:  # type: ignore[no-untyped-def]
    billed_enterprise(enterprise, top_up="50")
    client.force_login(enterprise_admin)
    response = client.post(
        reverse("billing:balance"), {"thresholds": "100, 20.5，5", "alert_email": "cfo@acme.example"}
    )
    assert response.status_code == 302
    from billing.models import BillingAccount, LowBalanceThreshold

    assert sorted(LowBalanceThreshold.objects.filter(enterprise=enterprise).values_list("amount", flat=True)) == [
        D("5"),
        D("20.5"),
        D("100"),
    ]
    assert BillingAccount.objects.get(enterprise=enterprise).alert_email == "cfo@acme.example"
    assert client.post(reverse("billing:balance"), {"thresholds": "ten"}).status_code == 200
    assert LowBalanceThreshold.objects.filter(enterprise=enterprise).count() == 3
