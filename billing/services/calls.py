"""Funds for calls: reserve before the Originate, settle when the CDRs are written, release when nothing rang.

Lifecycle of a reservation (keyed by the attempt's channel id, the call's Linkedid):

    call_reserve ──> active ──call_settle──> settled   (its legs charged on the ledger, one entry per CDR)
                        └────call_release──> released  (also call_settle with no charge: nothing answered)

``call_reserve`` runs inside the engine's placement transaction, after it locked the Enterprise row; it locks the
billing account too, so reservations of one tenant are made one at a time and the sum of live reservations never
exceeds what the balance (down to the credit limit) and the daily spend cap leave. The longest call it returns
is what the reservation pays for at both legs' own rates, so a settled call never costs more than it held.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from billing.models import BillingAccount, LedgerEntry, Reservation
from billing.money import ZERO, quantize_money
from billing.rating import LegRole, Tariff, rate_leg
from billing.services.ledger import funds_of, lock_account, post_entry, reserved_total
from billing.services.rerating import rating_context_for
from huibo import db, prepared
from huibo.errors import ApplicationError
from tenants.models import Enterprise

logger = logging.getLogger(__name__)

# Past the longest call, how long a reservation may wait for its call's hand-off before it is released.
STALE_RESERVATION_GRACE = timedelta(hours=1)


class FundsError(ApplicationError):
    pass


@dataclass(frozen=True)
class LegCharge:
    """One leg's charge to book when a call is settled: ``key`` is unique per leg (the CDR)."""

    key: str
    amount: Decimal
    reference: str


def _call_cost(enterprise_tariff: Tariff, visitor_tariff: Tariff, seconds: int, *, unanswered_free: bool) -> Decimal:
    slack = settings.BILLING_RESERVATION_SLACK_SECONDS
    return sum(
        (
            rate_leg(tariff=tariff, seconds=seconds + slack, answered=True, unanswered_free=unanswered_free).amount
            for tariff in (enterprise_tariff, visitor_tariff)
        ),
        ZERO,
    )


def _day_start(enterprise: Enterprise, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(enterprise.time_zone))
    return datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)


def spent_today(*, account: BillingAccount, enterprise: Enterprise, now: datetime | None = None) -> Decimal:
    """Charges booked since midnight in the enterprise's time zone (a positive amount)."""
    since = _day_start(enterprise, now or timezone.now())
    total = LedgerEntry.objects.filter(account=account, kind=LedgerEntry.Kind.CHARGE, created_at__gte=since).aggregate(
        total=Sum("amount")
    )["total"]
    return -(total or ZERO)


def _cap_room(account: BillingAccount, enterprise: Enterprise, reserved: Decimal) -> Decimal | None:
    if account.daily_spend_cap is None:
        return None
    return account.daily_spend_cap - spent_today(account=account, enterprise=enterprise) - reserved


_RESERVED_SECONDS = f"SELECT max_seconds FROM {Reservation._meta.db_table} WHERE key = %s"


def call_reserve(
    *, enterprise: Enterprise, reservation_key: str, enterprise_numbers: Sequence[str], visitor_number: str
) -> int:
    """Reserve funds for both legs of one call; return the longest call (seconds) the reservation pays for.

    ``enterprise_numbers``: the bound number the call rings, or every member of a ring group, any of which may
    answer: the call is reserved (and capped) at the dearest of them, so whichever answers, the funds cover it.

    Called inside the engine's transaction after it locked the Enterprise row. Raises ApplicationError with code
    ``balance_exhausted`` when the available balance cannot pay a minimum call (BILLING_MINIMUM_CALL_SECONDS of
    both legs), ``spend_cap_reached`` when the daily spend cap cannot, ``no_rate`` when the plan prices neither
    number, ``no_billing_account`` when BILLING_REQUIRE_ACCOUNT is on and the tenant has none. The same key twice
    returns the first reservation's answer. An unmetered tenant (no account) gets BILLING_MAX_CALL_SECONDS.
    """
    ceiling = settings.BILLING_MAX_CALL_SECONDS
    with transaction.atomic():
        account = lock_account(enterprise_id=enterprise.pk)
        if account is None:
            if settings.BILLING_REQUIRE_ACCOUNT:
                raise FundsError("no_billing_account", _("This enterprise has no billing account."))
            return ceiling
        with transaction.get_connection().cursor() as cursor:
            prepared.execute(cursor, _RESERVED_SECONDS, [reservation_key])
            existing = cursor.fetchone()
        if existing is not None:
            return int(existing[0])
        context = rating_context_for(enterprise_id=enterprise.pk)
        assert context is not None  # the account exists, we hold its lock
        legs = [(LegRole.ENTERPRISE, number) for number in enterprise_numbers] + [(LegRole.VISITOR, visitor_number)]
        tariffs = [(number, context.table.lookup(role, number)) for role, number in legs]
        unpriced = next((number for number, tariff in tariffs if tariff is None), None)
        if unpriced is not None:
            raise FundsError("no_rate", _("The rate plan prices no call to %(number)s.") % {"number": unpriced})
        *enterprise_tariffs, visitor_tariff = [tariff for _number, tariff in tariffs if tariff is not None]
        funds = funds_of(account=account)
        room = funds.available
        cap_room = _cap_room(account, enterprise, funds.reserved)
        code = "balance_exhausted"
        if cap_room is not None and cap_room < room:
            room, code = cap_room, "spend_cap_reached"
        unanswered_free = context.table.unanswered_free

        def cost(seconds: int) -> Decimal:
            return max(
                _call_cost(tariff, visitor_tariff, seconds, unanswered_free=unanswered_free)
                for tariff in enterprise_tariffs
            )

        shortest = min(settings.BILLING_MINIMUM_CALL_SECONDS, ceiling)
        if cost(shortest) > room:
            logger.info(
                "billing.reserve.refused enterprise=%s code=%s room=%s key=%s",
                enterprise.pk,
                code,
                room,
                reservation_key,
            )
            message = (
                _("The daily spend cap leaves no room for another call today.")
                if code == "spend_cap_reached"
                else _("The available balance cannot pay for a minimum call.")
            )
            raise FundsError(code, message, extra={"available": str(funds.available), "currency": funds.currency})
        # The cost only grows with the length: the longest affordable call, by bisection.
        low, high = shortest, ceiling
        while low < high:
            middle = (low + high + 1) // 2
            if cost(middle) <= room:
                low = middle
            else:
                high = middle - 1
        db.row_insert(
            Reservation(
                account=account,
                enterprise=enterprise,
                key=reservation_key,
                amount=quantize_money(cost(low)),
                max_seconds=low,
            )
        )
    logger.info("billing.reserve.held enterprise=%s key=%s max_seconds=%s", enterprise.pk, reservation_key, low)
    return low


def call_settle(*, enterprise_id: int, reservation_key: str, charges: Sequence[LegCharge]) -> Decimal:
    """Book a finished call's leg charges and close its reservation. Safe to run twice; returns what was booked.

    A charge never takes more than the call's own reservation plus the free funds beyond every other live
    reservation: if Asterisk let a call run past its cap, the excess is not booked and is logged
    (``billing.settle.capped``), so no mix of calls drives the balance below the credit limit.
    """
    booked = ZERO
    with transaction.atomic():
        account = lock_account(enterprise_id=enterprise_id)
        if account is None:
            return booked
        reservation = Reservation.objects.select_for_update().filter(key=reservation_key).first()
        held = reservation.amount if reservation and reservation.status == Reservation.Status.ACTIVE else ZERO
        funds = funds_of(account=account)
        allowance = funds.balance + funds.credit_limit - reserved_total(account=account, exclude_key=reservation_key)
        allowance = max(allowance, ZERO)
        for charge in charges:
            if charge.amount <= 0 or LedgerEntry.objects.filter(key=charge.key).exists():
                continue
            amount = min(charge.amount, allowance - booked)
            if amount < charge.amount:
                logger.error(
                    "billing.settle.capped enterprise=%s key=%s charge=%s booked=%s held=%s",
                    enterprise_id,
                    charge.key,
                    charge.amount,
                    amount,
                    held,
                )
            if amount <= 0:
                continue
            post_entry(
                account=account,
                kind=LedgerEntry.Kind.CHARGE,
                amount=-amount,
                key=charge.key,
                reason=gettext_noop("call charge"),
                reference=charge.reference,
            )
            booked += amount
        if reservation is not None and reservation.status == Reservation.Status.ACTIVE:
            reservation.status = Reservation.Status.SETTLED if booked > 0 else Reservation.Status.RELEASED
            reservation.charged = booked
            reservation.closed_at = timezone.now()
            reservation.save(update_fields=["status", "charged", "closed_at"])
    return booked


def call_release(*, reservation_key: str) -> None:
    """Give back what a call reserved and was not charged (it failed or was never placed); safe to repeat."""
    with transaction.atomic():
        reservation = Reservation.objects.filter(key=reservation_key).values_list("enterprise_id", flat=True).first()
        if reservation is None:
            return
        lock_account(enterprise_id=reservation)
        Reservation.objects.filter(key=reservation_key, status=Reservation.Status.ACTIVE).update(
            status=Reservation.Status.RELEASED, charged=ZERO, closed_at=timezone.now()
        )


def reservations_release_stale(*, now: datetime | None = None) -> int:
    """Release reservations held far longer than any call can last (the hand-off never came: a lost task, a bug).

    Safe even if the call's CDRs arrive later: settling books the charges of a released reservation all the same.
    """
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.BILLING_MAX_CALL_SECONDS) - STALE_RESERVATION_GRACE
    released = 0
    for key in Reservation.objects.filter(status=Reservation.Status.ACTIVE, created_at__lt=limit).values_list(
        "key", flat=True
    )[:1000]:
        call_release(reservation_key=key)
        logger.warning("billing.reserve.stale_released key=%s", key)
        released += 1
    return released


def spend_cap_reached(*, enterprise: Enterprise) -> bool:
    """Whether the enterprise's daily spend cap (RELIABILITY.md S4) leaves no room for another call today.

    Charges booked today plus funds held by live calls, against the cap. The widget asks this at submit;
    ``call_reserve`` enforces the cap exactly, under the account's lock, before every Originate.
    """
    account = BillingAccount.objects.filter(enterprise=enterprise).first()
    if account is None or account.daily_spend_cap is None:
        return False
    room = _cap_room(account, enterprise, reserved_total(account=account))
    return room is not None and room <= 0
