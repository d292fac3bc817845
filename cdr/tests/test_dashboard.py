"""The calls dashboard and the operator's ASR/ACD: counts, answer rate, which leg failed, delay percentiles."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from billing.models import BillingAccount, LedgerEntry
from cdr.models import CallSummary
from cdr.selectors import dashboard_of, traffic_by
from tenants.models import Enterprise

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai


def _call(
    enterprise: Enterprise, n: int, *, ring: int, connect: int | None, failed: str = "", node: str = "pbx-1"
) -> None:
    clicked = NOW - timedelta(hours=n)
    CallSummary.objects.create(
        enterprise=enterprise,
        callback_request_id=n,
        attempt_id=n,
        linkedid=f"call-{n}",
        node_name=node,
        requested_at=clicked,
        placed_at=clicked + timedelta(seconds=ring),
        connected_at=clicked + timedelta(seconds=connect) if connect else None,
        ended_at=clicked + timedelta(seconds=120),
        connected=connect is not None,
        failed_leg=failed,
        talk_seconds=60 if connect else 0,
    )


def test_the_dashboard_counts_callbacks_answer_rate_failed_legs_and_delays(enterprise: Enterprise) -> None:
    # given four callbacks today (Shanghai) and one yesterday; three connected
    for n, ring, connect in [(1, 1, 3), (2, 2, 4), (3, 1, 5)]:
        _call(enterprise, n, ring=ring, connect=connect)
    _call(enterprise, 4, ring=1, connect=None, failed="visitor")
    _call(enterprise, 20, ring=9, connect=None, failed="enterprise")
    # when
    stats = dashboard_of(enterprise=enterprise, now=NOW)
    # then
    assert (stats.calls_today, stats.calls_month, stats.connected_month) == (4, 5, 3)
    assert stats.answer_rate == Decimal("60.0")
    assert stats.failed_by_leg == {"visitor": 1, "enterprise": 1}
    assert (stats.to_ringing.p50, stats.to_ringing.p90) == (timedelta(seconds=1), timedelta(seconds=9))
    assert (stats.to_connected.p50, stats.to_connected.p90) == (timedelta(seconds=4), timedelta(seconds=5))
    assert [(day.calls, day.connected) for day in stats.days] == [(1, 0), (4, 3)]


def test_asr_and_acd_per_tenant_and_per_node(enterprise: Enterprise, other_enterprise: Enterprise) -> None:
    _call(enterprise, 1, ring=1, connect=3)
    _call(enterprise, 2, ring=1, connect=None, failed="visitor", node="pbx-2")
    _call(other_enterprise, 3, ring=1, connect=3, node="pbx-2")
    by_tenant = {
        row.name: (row.calls, row.asr, row.acd) for row in traffic_by(group="enterprise", since=NOW - timedelta(days=1))
    }
    assert by_tenant == {
        "Enterprise acme": (2, Decimal("50.0"), Decimal("60.0")),
        "Enterprise globex": (1, Decimal("100.0"), Decimal("60.0")),
    }
    by_node = {row.name: (row.calls, row.connected) for row in traffic_by(group="node", since=NOW - timedelta(days=1))}
    assert by_node == {"pbx-1": (1, 1), "pbx-2": (2, 1)}


def test_an_operator_opens_a_billing_account_from_the_shell(enterprise: Enterprise) -> None:
    call_command("billing_open_account", "acme", "--top-up", "88")
    account = BillingAccount.objects.get(enterprise=enterprise)
    assert account.rate_plan.rates.count() == 3
    assert LedgerEntry.objects.get(enterprise=enterprise).balance_after == Decimal("88")
