"""The prepaid ledger and the funds a call holds: exact arithmetic, append-only, and never past the credit limit."""

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.models import Sum

from billing import selectors
from billing import services as billing_services
from billing.models import LedgerEntry, Reservation
from billing.rating import Increment, Tariff, rate_leg
from billing.services.calls import LegCharge
from billing.tests.helpers import billed_enterprise
from conftest import make_enterprise
from huibo.errors import ApplicationError
from tenants.models import Enterprise

D = Decimal
pytestmark = pytest.mark.django_db

# Both legs of a call from the acme fixture to +8613800002222: enterprise leg mobile 0.12/min, visitor leg
# (a mobile that is not 139) 0.12/min, 6/6; a minute plus the 2 s slack costs 2 × 0.132.
ENTERPRISE_NUMBER = "+8613800001100"
VISITOR = "+8613800002222"


def _reserve(
    enterprise: Enterprise, key: str, visitor: str = VISITOR, ringing: tuple[str, ...] = (ENTERPRISE_NUMBER,)
) -> int:
    """As the engine does: inside its transaction, after locking the Enterprise row."""
    with transaction.atomic():
        locked = Enterprise.objects.select_for_update().get(pk=enterprise.pk)
        return billing_services.call_reserve(
            enterprise=locked, reservation_key=key, enterprise_numbers=list(ringing), visitor_number=visitor
        )


def _leg_cost(seconds: int) -> Decimal:
    return rate_leg(tariff=Tariff(D("0.12"), Increment(6, 6)), seconds=seconds, answered=True).amount


def test_a_top_up_raises_the_balance_and_records_who_and_why(enterprise: Enterprise, admin_user) -> None:  # type: ignore[no-untyped-def]
    # given
    billed_enterprise(enterprise, top_up=None)
    # when
    entry = billing_services.balance_top_up(
        enterprise=enterprise, amount=D("50.5"), reason="bank transfer 2026-11-20", key="tx-1", created_by=admin_user
    )
    # then
    assert (entry.kind, entry.amount, entry.balance_after, entry.currency) == ("top_up", D("50.5000"), D("50.5"), "CNY")
    assert (entry.created_by, entry.reason) == (admin_user, "bank transfer 2026-11-20")
    assert selectors.funds_for(enterprise=enterprise).balance == D("50.5")


def test_the_same_top_up_twice_is_booked_once(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up=None)
    for _twice in range(2):
        billing_services.balance_top_up(enterprise=enterprise, amount=D("10"), reason="payment", key="tx-7")
    assert LedgerEntry.objects.filter(enterprise=enterprise).count() == 1
    assert selectors.funds_for(enterprise=enterprise).balance == D("10")


def test_an_entry_without_a_reason_is_refused(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up=None)
    with pytest.raises(ApplicationError) as refusal:
        billing_services.balance_top_up(enterprise=enterprise, amount=D("10"), reason="  ", key="tx-8")
    assert refusal.value.code == "reason_required"
    assert not LedgerEntry.objects.exists()


def test_a_refund_past_the_available_balance_is_refused(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="5")
    with pytest.raises(ApplicationError) as refusal:
        billing_services.balance_refund(enterprise=enterprise, amount=D("5.01"), reason="closing", key="r-1")
    assert refusal.value.code == "insufficient_funds"
    assert selectors.funds_for(enterprise=enterprise).balance == D("5")


def test_ledger_entries_can_be_neither_changed_nor_deleted(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="5")
    entry = LedgerEntry.objects.get()
    with pytest.raises(InternalError), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=D("500"))
    with pytest.raises(InternalError), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    assert LedgerEntry.objects.get().amount == D("5")


def test_the_database_refuses_a_balance_below_the_credit_limit(enterprise: Enterprise) -> None:
    account = billed_enterprise(enterprise, top_up="1", credit_limit=D("2"))
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            account=account,
            enterprise=enterprise,
            kind="charge",
            amount=D("-3.0001"),
            currency="CNY",
            balance_after=D("-2.0001"),
            credit_limit=D("2"),
            key="bypass",
            reason="a bug that skipped the services",
        )


def test_a_reservation_pays_for_the_longest_call_the_available_balance_allows(enterprise: Enterprise) -> None:
    # given 1.00: each 6 s block of both legs costs 0.024, so 41 blocks (246 s) fit, less the 2 s slack
    billed_enterprise(enterprise, top_up="1")
    # when
    seconds = _reserve(enterprise, "call-1")
    # then
    assert seconds == 244
    reservation = Reservation.objects.get(key="call-1")
    assert reservation.amount == 2 * _leg_cost(246) == D("0.9840")
    funds = selectors.funds_for(enterprise=enterprise)
    assert (funds.balance, funds.reserved, funds.available) == (D("1"), D("0.984"), D("0.016"))


def test_a_call_the_balance_cannot_pay_a_minimum_for_is_refused_and_nothing_is_held(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="0.26")  # a minute of both legs (+2 s) costs 0.264
    with pytest.raises(ApplicationError) as refusal:
        _reserve(enterprise, "call-1")
    assert refusal.value.code == "balance_exhausted"
    assert not Reservation.objects.exists()


def test_the_credit_limit_counts_as_available(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up=None, credit_limit=D("1"))
    assert _reserve(enterprise, "call-1") == 244


def test_reserving_the_same_call_twice_holds_funds_once(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="10")
    assert _reserve(enterprise, "call-1") == _reserve(enterprise, "call-1")
    assert Reservation.objects.count() == 1


def test_an_unmetered_tenant_gets_the_operators_ceiling(enterprise: Enterprise, settings) -> None:  # type: ignore[no-untyped-def]
    assert _reserve(enterprise, "call-1") == settings.BILLING_MAX_CALL_SECONDS
    settings.BILLING_REQUIRE_ACCOUNT = True
    with pytest.raises(ApplicationError) as refusal:
        _reserve(enterprise, "call-2")
    assert refusal.value.code == "no_billing_account"


def test_settling_books_each_leg_once_and_closes_the_reservation(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="10")
    _reserve(enterprise, "call-1")
    charges = [LegCharge("cdr:1", D("0.1200"), "cdr:1"), LegCharge("cdr:2", D("0.2400"), "cdr:2")]
    for _twice in range(2):
        billing_services.call_settle(enterprise_id=enterprise.pk, reservation_key="call-1", charges=charges)
    reservation = Reservation.objects.get(key="call-1")
    assert (reservation.status, reservation.charged) == ("settled", D("0.36"))
    funds = selectors.funds_for(enterprise=enterprise)
    assert (funds.balance, funds.reserved) == (D("9.64"), D("0"))
    assert LedgerEntry.objects.filter(kind="charge").count() == 2


def test_a_call_that_rang_nobody_releases_its_reservation(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="10")
    _reserve(enterprise, "call-1")
    billing_services.call_settle(enterprise_id=enterprise.pk, reservation_key="call-1", charges=[])
    assert Reservation.objects.get(key="call-1").status == "released"
    assert selectors.funds_for(enterprise=enterprise).available == D("10")


def test_low_balance_alerts_once_per_crossing(
    enterprise: Enterprise, mailoutbox, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given a threshold of 5 and a balance of 6
    account = billed_enterprise(enterprise, top_up="6", alert_email="finance@acme.example", language="en")
    billing_services.threshold_set(account=account, amounts=[D("5")])

    def charge(key: str, amount: str) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            billing_services.call_settle(
                enterprise_id=enterprise.pk, reservation_key=key, charges=[LegCharge(key, D(amount), key)]
            )

    # when the balance falls below 5, then further, then is topped up and falls again
    charge("c1", "1.5")  # 4.5: crossed
    charge("c2", "1")  # 3.5: still below, no second mail
    with django_capture_on_commit_callbacks(execute=True):
        billing_services.balance_top_up(enterprise=enterprise, amount=D("10"), reason="payment", key="t2")  # 13.5
    charge("c3", "9")  # 4.5: crossed again
    # then
    assert len(mailoutbox) == 2
    assert mailoutbox[0].to == ["finance@acme.example"]
    assert "below 5" in mailoutbox[0].subject


def test_the_daily_spend_cap_refuses_the_call_that_would_pass_it(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="100", daily_spend_cap=D("0.50"))
    assert billing_services.spend_cap_reached(enterprise=enterprise) is False
    seconds = _reserve(enterprise, "call-1")  # the cap, not the balance, limits the call: 20 blocks fit
    assert seconds == 118
    with pytest.raises(ApplicationError) as refusal:
        _reserve(enterprise, "call-2")
    assert refusal.value.code == "spend_cap_reached"
    billing_services.call_settle(
        enterprise_id=enterprise.pk, reservation_key="call-1", charges=[LegCharge("cdr:1", D("0.50"), "cdr:1")]
    )
    assert billing_services.spend_cap_reached(enterprise=enterprise) is True


def test_a_reservation_whose_call_never_reported_is_released_and_a_late_settlement_still_charges(
    enterprise: Enterprise,
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    billed_enterprise(enterprise, top_up="10")
    _reserve(enterprise, "call-1")
    assert billing_services.reservations_release_stale() == 0
    later = timezone.now() + timedelta(hours=3)
    assert billing_services.reservations_release_stale(now=later) == 1
    assert selectors.funds_for(enterprise=enterprise).reserved == 0
    billing_services.call_settle(
        enterprise_id=enterprise.pk, reservation_key="call-1", charges=[LegCharge("cdr:9", D("0.5"), "cdr:9")]
    )
    assert selectors.funds_for(enterprise=enterprise).balance == D("9.5")


# --- B2 under concurrency: real PostgreSQL, one connection per thread -------------------------------------------


def _in_threads(count: int, work) -> list[object]:  # type: ignore[no-untyped-def]
    results: list[object] = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - a refusal is a result here
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_calls_never_overdraw_and_the_balance_is_exact(settings) -> None:  # type: ignore[no-untyped-def]
    """50 calls of one tenant are placed at once on a balance that pays for about 20 of the longest calls (600 s:
    2.424 for both legs); every call that got funds then talks for as long as it was allowed, all ending at once."""
    # given
    settings.BILLING_MAX_CALL_SECONDS = 600
    enterprise = make_enterprise("busy")
    billed_enterprise(enterprise, top_up="48", credit_limit=D("0.50"))  # 48.50 available
    # when
    granted = _in_threads(50, lambda i: _reserve(enterprise, f"call-{i}"))
    placed = {f"call-{i}": seconds for i, seconds in enumerate(granted) if isinstance(seconds, int)}
    refused = [result for result in granted if not isinstance(result, int)]
    assert all(isinstance(r, ApplicationError) and r.code == "balance_exhausted" for r in refused)
    assert sorted(placed.values()) == [600] * 20  # 20 × 2.424 = 48.48; the 0.02 left pays no minimum call
    held = selectors.funds_for(enterprise=enterprise)
    assert held.reserved <= D("48.50") and held.available >= 0

    keys = sorted(placed)
    talked = {key: placed[key] for key in keys}  # the worst case: each call runs to its cap

    def settle(index: int) -> Decimal:
        key = keys[index]
        charges = [LegCharge(f"{key}-{leg}", _leg_cost(talked[key]), key) for leg in ("enterprise", "visitor")]
        return billing_services.call_settle(enterprise_id=enterprise.pk, reservation_key=key, charges=charges)

    booked = _in_threads(len(keys), settle)
    # then
    assert all(isinstance(amount, Decimal) for amount in booked)
    expected = sum((2 * _leg_cost(talked[key]) for key in keys), D(0))
    assert sum(booked, D(0)) == expected  # nothing capped: each call cost at most what it held
    funds = selectors.funds_for(enterprise=enterprise)
    assert funds.balance == D("48") - expected
    assert funds.balance >= -D("0.50")
    assert funds.reserved == 0
    entries = list(LedgerEntry.objects.filter(enterprise=enterprise).order_by("id"))
    running = D(0)
    for entry in entries:  # every entry's balance_after is the exact running sum, never below the limit
        running += entry.amount
        assert entry.balance_after == running >= -D("0.50")
    assert not Reservation.objects.filter(status="active").exists()


@pytest.mark.django_db(transaction=True)
def test_one_hundred_parallel_calls_never_pass_the_daily_spend_cap() -> None:
    """S4: a daily cap of 5.00 and a balance of 100; 100 calls at once over 40 connections (the machine's
    PostgreSQL allows 100 clients in all, shared with other suites), each reserving at most the cap's room."""
    enterprise = make_enterprise("capped")
    billed_enterprise(enterprise, top_up="100", daily_spend_cap=D("5"))
    keys = [f"call-{i}" for i in range(100)]

    def reserve_share(worker: int) -> list[object]:
        outcomes: list[object] = []
        for key in keys[worker::40]:
            try:
                outcomes.append(_reserve(enterprise, key))
            except ApplicationError as refusal:
                outcomes.append(refusal)
        return outcomes

    granted = [outcome for share in _in_threads(40, reserve_share) for outcome in share]  # type: ignore[union-attr]
    assert len(granted) == 100
    placed = [seconds for seconds in granted if isinstance(seconds, int)]
    refused = [result for result in granted if not isinstance(result, int)]
    assert placed and all(isinstance(r, ApplicationError) and r.code == "spend_cap_reached" for r in refused)
    assert Reservation.objects.filter(enterprise=enterprise).aggregate(total=Sum("amount"))["total"] <= D("5")


def test_a_ring_group_is_reserved_at_its_dearest_member(enterprise: Enterprise) -> None:
    # given a balance of 1.00: a mobile bound number costs 0.12/min, a fixed line 0.10/min
    billed_enterprise(enterprise, top_up="1")
    fixed_line = "+861062345678"
    # when
    fixed_alone = _reserve(enterprise, "fixed", ringing=(fixed_line,))
    billing_services.call_release(reservation_key="fixed")
    group = _reserve(enterprise, "group", ringing=(fixed_line, ENTERPRISE_NUMBER))
    billing_services.call_release(reservation_key="group")
    mobile_alone = _reserve(enterprise, "mobile", ringing=(ENTERPRISE_NUMBER,))
    # then: whichever phone answers, the reservation pays for the call Asterisk lets run
    assert group == mobile_alone < fixed_alone
