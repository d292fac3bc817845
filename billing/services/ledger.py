"""The prepaid ledger: append-only entries, each written under a lock on the account, carrying the balance after it.

Lifecycle of money: a top-up (operator, with a reason) raises the balance; calls reserve funds before they are
placed (billing.services.calls) and are charged per leg when their CDRs are written; adjustments and refunds are
operator corrections with a reason. Every entry has a unique key, so the same movement booked twice (a
redelivered task, a double-clicked form) is booked once. After every entry the tenant's low-balance thresholds
are checked: crossing one downwards sends one email (after commit) and disarms it until the balance is back above.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _
from django.utils.translation import override

from billing.models import BillingAccount, LedgerEntry, LowBalanceThreshold, Reservation
from billing.money import ZERO, quantize_money
from huibo import db, prepared
from huibo.errors import ApplicationError
from tenants.models import Enterprise, Membership

logger = logging.getLogger(__name__)


class LedgerError(ApplicationError):
    pass


@dataclass(frozen=True)
class Funds:
    balance: Decimal
    reserved: Decimal
    credit_limit: Decimal
    currency: str

    @property
    def available(self) -> Decimal:
        """What new calls may still use: the balance down to the credit limit, less what live calls hold."""
        return self.balance + self.credit_limit - self.reserved


_ACCOUNT_OF_ENTERPRISE = (
    f"SELECT {db.select_list(BillingAccount, 'a')} FROM {BillingAccount._meta.db_table} a WHERE a.enterprise_id = %s"
)


def lock_account(*, enterprise_id: int) -> BillingAccount | None:
    """The enterprise's billing account, locked until the end of the transaction; None for an unmetered tenant.

    A plain statement (every call placed reads it) that locks the account's row alone: tenants on the same rate
    plan never wait for one another.
    """
    with transaction.get_connection().cursor() as cursor:
        prepared.execute(cursor, _ACCOUNT_OF_ENTERPRISE + db.row_lock_clause(), [enterprise_id])
        row = cursor.fetchone()
    if row is None:
        return None
    (account,) = db.instances_from_row(row, BillingAccount)
    assert isinstance(account, BillingAccount)
    return account


def current_balance(*, account: BillingAccount) -> Decimal:
    last = LedgerEntry.objects.filter(account=account).order_by("-id").values_list("balance_after", flat=True).first()
    return last if last is not None else quantize_money(ZERO)


def reserved_total(*, account: BillingAccount, exclude_key: str | None = None) -> Decimal:
    active = Reservation.objects.filter(account=account, status=Reservation.Status.ACTIVE)
    if exclude_key is not None:
        active = active.exclude(key=exclude_key)
    return active.aggregate(total=Sum("amount"))["total"] or quantize_money(ZERO)


# current_balance and reserved_total in one prepared statement: every call placed reads them.
_FUNDS = (
    f"SELECT (SELECT balance_after FROM {LedgerEntry._meta.db_table} WHERE account_id = %s ORDER BY id DESC LIMIT 1),"
    f" (SELECT SUM(amount) FROM {Reservation._meta.db_table} WHERE account_id = %s AND status = %s)"
)


def funds_of(*, account: BillingAccount) -> Funds:
    with transaction.get_connection().cursor() as cursor:
        prepared.execute(cursor, _FUNDS, [account.pk, account.pk, Reservation.Status.ACTIVE.value])
        balance, reserved = cursor.fetchone()
    # (SUM and a sub-select: read as their columns, for the demo's SQLite, which returns REAL.)
    balance = db.value_from_db(LedgerEntry, "balance_after", balance)
    reserved = db.value_from_db(Reservation, "amount", reserved)
    return Funds(
        balance=balance if balance is not None else quantize_money(ZERO),
        reserved=reserved if reserved is not None else quantize_money(ZERO),
        credit_limit=account.credit_limit,
        currency=account.currency,
    )


def post_entry(
    *,
    account: BillingAccount,
    kind: str,
    amount: Decimal,
    key: str,
    reason: str,
    reference: str = "",
    created_by: AbstractBaseUser | None = None,
) -> LedgerEntry:
    """Append one entry. The caller holds the account's lock (lock_account) inside its transaction.

    The same key again returns the entry already booked and changes nothing.
    """
    existing = LedgerEntry.objects.filter(key=key).first()
    if existing is not None:
        if existing.account_id != account.pk:
            raise LedgerError("key_reused", "A ledger key was reused across accounts.")
        return existing
    amount = quantize_money(amount)
    balance = current_balance(account=account)
    entry = LedgerEntry.objects.create(
        account=account,
        enterprise_id=account.enterprise_id,
        kind=kind,
        amount=amount,
        currency=account.currency,
        balance_after=balance + amount,
        credit_limit=account.credit_limit,
        key=key,
        reason=reason,
        reference=reference,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    _thresholds_check(account=account, balance=entry.balance_after)
    logger.info(
        "billing.ledger.posted enterprise=%s kind=%s amount=%s balance=%s key=%s",
        account.enterprise_id,
        kind,
        amount,
        entry.balance_after,
        key,
    )
    return entry


def _thresholds_check(*, account: BillingAccount, balance: Decimal) -> None:
    """Disarm and alert the thresholds the balance fell below; re-arm those it is back at or above."""
    LowBalanceThreshold.objects.filter(account=account, armed=False, amount__lte=balance).update(armed=True)
    crossed = list(
        LowBalanceThreshold.objects.filter(account=account, armed=True, amount__gt=balance).values_list("pk", "amount")
    )
    if not crossed:
        return
    LowBalanceThreshold.objects.filter(pk__in=[pk for pk, _amount in crossed]).update(armed=False)
    lowest_crossed = min(amount for _pk, amount in crossed)
    account_id = account.pk
    transaction.on_commit(lambda: send_low_balance_alert(account_id=account_id, threshold=lowest_crossed))


def send_low_balance_alert(*, account_id: int, threshold: Decimal) -> bool:
    """Email the tenant that its balance fell below ``threshold``. Runs after commit; a mail failure is logged."""
    account = BillingAccount.objects.select_related("enterprise").get(pk=account_id)
    recipients = [account.alert_email] if account.alert_email else _member_emails(account.enterprise)
    if not recipients:
        logger.warning("billing.low_balance.no_recipient enterprise=%s", account.enterprise_id)
        return False
    balance = current_balance(account=account)
    with override(account.language):
        subject = _("Huibo: balance below %(threshold)s %(currency)s") % {
            "threshold": threshold,
            "currency": account.currency,
        }
        body = _(
            "The prepaid balance of %(enterprise)s is %(balance)s %(currency)s, below the %(threshold)s you set. "
            "Calls stop when the balance cannot pay for a minimum call; please top up."
        ) % {
            "enterprise": account.enterprise.name,
            "balance": balance,
            "currency": account.currency,
            "threshold": threshold,
        }
    try:
        send_mail(subject, body, None, recipients)
    except OSError as error:
        logger.error("billing.low_balance.mail_failed enterprise=%s error=%s", account.enterprise_id, error)
        return False
    logger.info("billing.low_balance.alerted enterprise=%s threshold=%s", account.enterprise_id, threshold)
    return True


def _member_emails(enterprise: Enterprise) -> list[str]:
    return [
        email
        for email in Membership.objects.filter(
            enterprise=enterprise, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN]
        ).values_list("user__email", flat=True)
        if email
    ]


def _operator_entry(
    *,
    enterprise: Enterprise,
    kind: str,
    amount: Decimal,
    reason: str,
    key: str,
    created_by: AbstractBaseUser | None,
) -> LedgerEntry:
    if not reason.strip():
        raise LedgerError("reason_required", _("Say why: every ledger entry records its reason."))
    with transaction.atomic():
        account = lock_account(enterprise_id=enterprise.pk)
        if account is None:
            raise LedgerError("no_billing_account", _("This enterprise has no billing account."))
        if LedgerEntry.objects.filter(key=key).exists():
            return LedgerEntry.objects.get(key=key)
        funds = funds_of(account=account)
        if amount < 0 and funds.available + amount < 0:
            raise LedgerError(
                "insufficient_funds",
                _("The available balance (%(available)s) cannot cover %(amount)s.")
                % {"available": funds.available, "amount": -amount},
            )
        return post_entry(
            account=account, kind=kind, amount=amount, key=key, reason=reason.strip(), created_by=created_by
        )


def balance_top_up(
    *, enterprise: Enterprise, amount: Decimal, reason: str, key: str, created_by: AbstractBaseUser | None = None
) -> LedgerEntry:
    """Credit a payment received. ``key`` identifies the payment (a form token, a bank reference)."""
    amount = quantize_money(Decimal(amount))
    if amount <= 0:
        raise LedgerError("invalid_amount", _("A top-up must be more than zero."))
    return _operator_entry(
        enterprise=enterprise,
        kind=LedgerEntry.Kind.TOP_UP,
        amount=amount,
        reason=reason,
        key=key,
        created_by=created_by,
    )


def balance_adjust(
    *, enterprise: Enterprise, amount: Decimal, reason: str, key: str, created_by: AbstractBaseUser | None = None
) -> LedgerEntry:
    """A correction either way (a goodwill credit, a missed charge); never below the credit limit."""
    amount = quantize_money(Decimal(amount))
    if amount == 0:
        raise LedgerError("invalid_amount", _("An adjustment cannot be zero."))
    return _operator_entry(
        enterprise=enterprise,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        amount=amount,
        reason=reason,
        key=key,
        created_by=created_by,
    )


def balance_refund(
    *, enterprise: Enterprise, amount: Decimal, reason: str, key: str, created_by: AbstractBaseUser | None = None
) -> LedgerEntry:
    """Pay money back to the tenant out of its balance (``amount`` is what leaves, as a positive number)."""
    amount = quantize_money(Decimal(amount))
    if amount <= 0:
        raise LedgerError("invalid_amount", _("A refund must be more than zero."))
    return _operator_entry(
        enterprise=enterprise,
        kind=LedgerEntry.Kind.REFUND,
        amount=-amount,
        reason=reason,
        key=key,
        created_by=created_by,
    )
