"""CDRs, invoices and the balance over the API, read through cdr's and billing's own selectors."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.services import accounts, invoices, ledger
from callback.services import requests as callback_requests
from cdr.models import CallDetailRecord
from integrations.tests.conftest import KeyedClient
from tenants.models import Enterprise

pytestmark = pytest.mark.django_db

MAY_2 = datetime(2026, 5, 2, 4, 0, tzinfo=UTC)  # noon in Shanghai


def _cdr(enterprise: Enterprise, *, request_id: int, role: str, disposition: str, **fields: object) -> CallDetailRecord:
    return CallDetailRecord.objects.create(
        enterprise=enterprise,
        callback_request_id=request_id,
        attempt_id=1,
        role=role,
        number="+8613800001100" if role == "enterprise" else "+8613900001005",
        node_name="pbx-1",
        linkedid=f"call-{request_id}-1",
        started_at=fields.pop("started_at", MAY_2),
        ended_at=fields.pop("ended_at", MAY_2 + timedelta(seconds=40)),
        disposition=disposition,
        **fields,
    )


def test_cdrs_are_filtered_by_leg_disposition_day_and_callback(api: KeyedClient, enterprise: Enterprise) -> None:
    # given two calls: one answered on 2 May, one where the visitor was busy on 3 May
    first = callback_requests.callback_request_create(enterprise=enterprise, visitor_number="+8613900001005")
    second = callback_requests.callback_request_create(enterprise=enterprise, visitor_number="+8613900001006")
    _cdr(enterprise, request_id=first.pk, role="enterprise", disposition="answered", billable_seconds=40)
    _cdr(enterprise, request_id=first.pk, role="visitor", disposition="answered", billable_seconds=38)
    may_3 = MAY_2 + timedelta(days=1)
    _cdr(enterprise, request_id=second.pk, role="visitor", disposition="busy", started_at=may_3, ended_at=may_3)

    def ids(query: str) -> list[tuple[str, str]]:
        response = api.client.get(f"/api/v1/cdrs/{query}")
        assert response.status_code == 200, response.json()
        return [(c["leg"], c["disposition"]) for c in response.json()["results"]]

    # then
    assert ids("?leg=visitor") == [("visitor", "busy"), ("visitor", "answered")]
    assert ids("?disposition=busy") == [("visitor", "busy")]
    # every disposition the API returns can be asked for
    for disposition in ("unallocated", "rejected", "not_dialled"):
        assert ids(f"?disposition={disposition}") == []
    assert ids("?date_from=2026-05-03") == [("visitor", "busy")]
    assert ids("?date_to=2026-05-02") == [("visitor", "answered"), ("enterprise", "answered")]
    assert ids(f"?callback_id={first.correlation_id}") == [("visitor", "answered"), ("enterprise", "answered")]
    assert ids("?callback_id=00000000-0000-0000-0000-000000000000") == []
    bad = api.client.get("/api/v1/cdrs/?disposition=exploded")
    assert (bad.status_code, list(bad.json()["extra"]["fields"])) == (400, ["disposition"])


def test_a_cdr_reads_with_its_callbacks_public_id(api: KeyedClient, enterprise: Enterprise) -> None:
    request = callback_requests.callback_request_create(enterprise=enterprise, visitor_number="+8613900001005")
    record = _cdr(enterprise, request_id=request.pk, role="visitor", disposition="answered", billable_seconds=38)
    body = api.client.get(f"/api/v1/cdrs/{record.pk}/").json()
    assert {k: body[k] for k in ("id", "callback_id", "leg", "billable_seconds", "charge", "currency")} == {
        "id": record.pk,
        "callback_id": str(request.correlation_id),
        "leg": "visitor",
        "billable_seconds": 38,
        "charge": None,
        "currency": "",
    }


def test_an_unmetered_enterprise_has_no_balance(api: KeyedClient) -> None:
    assert api.client.get("/api/v1/balance/").json() == {
        "metered": False,
        "currency": None,
        "balance": None,
        "reserved": None,
        "credit_limit": None,
        "available": None,
    }


def test_the_balance_is_the_ledgers(api: KeyedClient, enterprise: Enterprise) -> None:
    plan = accounts.rate_plan_create(name="Standard")
    accounts.account_open(enterprise=enterprise, rate_plan=plan, credit_limit=Decimal("20"))
    ledger.balance_top_up(enterprise=enterprise, amount=Decimal("100"), reason="bank transfer", key="pay-1")
    body = api.client.get("/api/v1/balance/").json()
    assert body["metered"] is True
    assert (Decimal(body["balance"]), Decimal(body["available"]), Decimal(body["reserved"])) == (
        Decimal("100"),
        Decimal("120"),
        Decimal("0"),
    )
    assert body["currency"] == plan.currency


def test_invoices_list_only_the_keys_enterprise(
    api: KeyedClient, other_api: KeyedClient, enterprise: Enterprise
) -> None:
    # given an invoice for acme's rated CDRs of May
    plan = accounts.rate_plan_create(name="Standard")
    accounts.account_open(enterprise=enterprise, rate_plan=plan)
    _cdr(enterprise, request_id=1, role="visitor", disposition="answered", charge=Decimal("1.20"), currency="CNY")
    invoice = invoices.invoice_issue(enterprise=enterprise, period_start=date(2026, 5, 1), period_end=date(2026, 6, 1))
    assert invoice is not None
    # when each tenant lists its invoices
    ours = api.client.get("/api/v1/invoices/").json()["results"]
    theirs = other_api.client.get("/api/v1/invoices/").json()["results"]
    # then
    assert [(i["number"], i["kind"], i["period_start"], i["period_end"]) for i in ours] == [
        (invoice.number, "invoice", "2026-05-01", "2026-06-01")
    ]
    assert Decimal(ours[0]["subtotal"]) == Decimal("1.20")
    assert theirs == []
