"""Rating CDRs with the tenant's plan: one leg at a time at ingestion, or in bulk (re-rating, the benchmark).

Rating a CDR that already carries the same charge changes nothing, so re-rating twice is a no-op (B3). A CDR that
is on an invoice is never re-rated: an issued invoice is corrected with a credit note, after which its CDRs are
free again. A bulk re-rate that changes a charge already booked on the ledger books the difference as an
adjustment keyed by the CDR and its new charge.
"""

import functools
import io
import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from billing.models import BillingAccount, LedgerEntry, Rate, RatePlan
from billing.rating import Increment, LegCharge, LegRole, NumberType, RateRow, RateTable, Tariff
from huibo import prepared
from tenants.models import Enterprise

logger = logging.getLogger(__name__)

_BULK_BATCH = 20_000
_NULL = "\\N"  # COPY's NULL
_COPY_COLUMNS = ("id", "charge", "billed", "grp", "tariff", "currency", "old_charge", "enterprise_id")


@dataclass(frozen=True)
class RatingContext:
    plan_id: int
    currency: str
    table: RateTable


@dataclass(frozen=True)
class LegToRate:
    role: str
    number: str
    billable_seconds: int
    answered: bool


@dataclass(frozen=True)
class RatedLeg:
    charge: Decimal
    billed_seconds: int
    destination_group: str
    tariff: str


def tariff_label(tariff: Tariff) -> str:
    return f"{tariff.price_per_minute}/min {tariff.increment} +{tariff.connection_fee} min {tariff.minimum_charge}"


def compile_plan(plan: RatePlan, *, home_country: str) -> RateTable:
    return _rate_table(plan.pk, unanswered_free=plan.unanswered_free, home_country=home_country)


def _rate_table(plan_id: int, *, unanswered_free: bool, home_country: str) -> RateTable:
    rows = [
        RateRow(
            leg=LegRole(rate.leg),
            prefix=rate.prefix,
            number_type=NumberType(rate.number_type) if rate.number_type else None,
            tariff=Tariff(
                price_per_minute=rate.price_per_minute,
                increment=Increment.parse(rate.increment),
                connection_fee=rate.connection_fee,
                minimum_charge=rate.minimum_charge,
                destination_group=rate.destination_group,
            ),
        )
        for rate in Rate.objects.filter(plan_id=plan_id)
    ]
    return RateTable(rows, unanswered_free=unanswered_free, home_country=home_country)


@functools.lru_cache(maxsize=64)
def _rate_table_at(plan_id: int, rates_version: int, unanswered_free: bool, home_country: str) -> RateTable:
    """The plan compiled once per process for each version of its rates: the version is only the cache key."""
    del rates_version
    return _rate_table(plan_id, unanswered_free=unanswered_free, home_country=home_country)


# One prepared statement: every call placed and every call settled asks for its tenant's plan.
_CONTEXT_OF_ENTERPRISE = (
    f"SELECT a.rate_plan_id, a.currency, p.unanswered_free, p.rates_version, e.default_country"
    f" FROM {BillingAccount._meta.db_table} a JOIN {RatePlan._meta.db_table} p ON p.id = a.rate_plan_id"
    f" JOIN {Enterprise._meta.db_table} e ON e.id = a.enterprise_id WHERE a.enterprise_id = %s"
)


def rating_context_for(*, enterprise_id: int) -> RatingContext | None:
    """The tenant's compiled plan, or None for an unmetered tenant (no billing account)."""
    with transaction.get_connection().cursor() as cursor:
        prepared.execute(cursor, _CONTEXT_OF_ENTERPRISE, [enterprise_id])
        row = cursor.fetchone()
    if row is None:
        return None
    plan_id, currency, unanswered_free, rates_version, home_country = row
    return RatingContext(plan_id, currency, _rate_table_at(plan_id, rates_version, unanswered_free, home_country))


def rate_one(context: RatingContext, leg: LegToRate) -> RatedLeg | None:
    """What one leg costs under the context's plan; None when the plan prices no such destination."""
    found = context.table.rate(role=leg.role, number=leg.number, seconds=leg.billable_seconds, answered=leg.answered)
    if found is None:
        return None
    tariff, charge = found
    return _rated(tariff, charge)


def _rated(tariff: Tariff, charge: LegCharge) -> RatedLeg:
    return RatedLeg(
        charge=charge.amount,
        billed_seconds=charge.billed_seconds,
        destination_group=tariff.destination_group,
        tariff=tariff_label(tariff),
    )


@dataclass(frozen=True)
class RatingRun:
    legs: int
    changed: int
    unrated: int


def cdrs_rate(*, enterprise_ids: Iterable[int] | None = None, until: datetime | None = None) -> RatingRun:
    """Rate (or re-rate) every CDR not on an invoice, in bulk, with each tenant's current plan.

    Reads with a server-side cursor, rates in Python with the compiled plan, and writes only the rows whose charge
    changed, through COPY into a temporary table and one UPDATE per batch. Outside a caller's transaction the
    writes run on a second connection in a writer thread, so PostgreSQL applies batch N while Python rates batch
    N+1 (the writer's batches commit together at the end); inside one, everything runs on the caller's connection.
    """
    if connection.vendor != "postgresql":
        raise NotImplementedError("bulk rating needs PostgreSQL (server-side cursors and COPY)")
    contexts = _contexts(enterprise_ids)
    legs = unrated = 0
    writer: _Writer = _InlineWriter() if connection.in_atomic_block else _ThreadWriter()
    try:
        with transaction.atomic():
            reader = connection.connection.cursor(name="billing_rate_reader")
            reader.itersize = _BULK_BATCH
            reader.execute(
                "SELECT id, enterprise_id, role, number, billable_seconds, disposition, charge, billed_seconds, "
                "destination_group FROM cdr_calldetailrecord WHERE invoice_id IS NULL AND ended_at < %s ORDER BY id",
                [until or datetime.max.replace(tzinfo=UTC)],
            )
            while True:
                rows = reader.fetchmany(_BULK_BATCH)
                if not rows:
                    break
                batch = _rate_rows(rows, contexts)
                legs += batch.legs
                unrated += batch.unrated
                if batch.pending:
                    writer.write(batch)
            reader.close()
        changed = writer.finish()
    except BaseException:
        writer.abort()
        raise
    logger.info("billing.rating.run legs=%s changed=%s unrated=%s", legs, changed, unrated)
    return RatingRun(legs=legs, changed=changed, unrated=unrated)


def _contexts(enterprise_ids: Iterable[int] | None) -> dict[int, RatingContext]:
    accounts = BillingAccount.objects.select_related("rate_plan", "enterprise")
    if enterprise_ids is not None:
        accounts = accounts.filter(enterprise_id__in=list(enterprise_ids))
    contexts: dict[int, RatingContext] = {}
    tables: dict[tuple[int, str], RateTable] = {}
    for account in accounts:
        key = (account.rate_plan_id, account.enterprise.default_country)
        if key not in tables:
            tables[key] = compile_plan(account.rate_plan, home_country=account.enterprise.default_country)
        contexts[account.enterprise_id] = RatingContext(account.rate_plan_id, account.currency, tables[key])
    return contexts


@dataclass
class _Batch:
    buffer: io.StringIO
    pending: int = 0
    legs: int = 0
    unrated: int = 0
    # The batch's id range: read in id order, each UPDATE joins only its own slice of the primary key.
    low: int = 0
    high: int = 0


def _rate_rows(rows: list[tuple[Any, ...]], contexts: dict[int, RatingContext]) -> _Batch:
    """Rate one batch; what changed goes into a COPY buffer (id, charge, billed, group, tariff, currency, old)."""
    batch = _Batch(io.StringIO(), low=rows[0][0], high=rows[-1][0])
    write = batch.buffer.write
    for cdr_id, enterprise_id, role, number, seconds, disposition, old, old_billed, old_group in rows:
        context = contexts.get(enterprise_id)
        if context is None:
            continue
        batch.legs += 1
        found = context.table.rate(role=role, number=number, seconds=seconds, answered=disposition == "answered")
        if found is None:
            batch.unrated += 1
            continue
        tariff, charge = found
        if old == charge.amount and old_billed == charge.billed_seconds and old_group == tariff.destination_group:
            continue
        previous = _NULL if old is None else str(old)
        write(
            f"{cdr_id}\t{charge.amount}\t{charge.billed_seconds}\t{_copy_text(tariff.destination_group)}\t"
            f"{_copy_text(tariff_label(tariff))}\t{context.currency}\t{previous}\t{enterprise_id}\n"
        )
        batch.pending += 1
    return batch


def _create_work_tables() -> None:
    with connection.cursor() as setup:
        for table in ("billing_rerate", "billing_rerate_batch"):
            # ON COMMIT DROP does not fire inside a caller's outer transaction: drop first.
            setup.execute(f"DROP TABLE IF EXISTS {table}")
            setup.execute(
                f"CREATE TEMPORARY TABLE {table} (id bigint, charge numeric, billed integer, grp text, "
                "tariff text, currency text, old_charge numeric, enterprise_id bigint) ON COMMIT DROP"
            )


class _Writer:
    def write(self, batch: _Batch) -> None:
        raise NotImplementedError

    def finish(self) -> int:
        raise NotImplementedError

    def abort(self) -> None:
        """Undo whatever was written; called when rating failed."""


class _InlineWriter(_Writer):
    """Writes on the caller's connection, inside the caller's transaction."""

    def __init__(self) -> None:
        self.changed = 0
        self.started = False
        self.now = timezone.now()
        self.savepoint = transaction.savepoint()

    def write(self, batch: _Batch) -> None:
        if not self.started:
            _create_work_tables()
            self.started = True
        self.changed += _flush(batch, self.now)

    def finish(self) -> int:
        if self.started:
            _book_rerating_differences()
        transaction.savepoint_commit(self.savepoint)
        return self.changed

    def abort(self) -> None:
        transaction.savepoint_rollback(self.savepoint)


class _ThreadWriter(_Writer):
    """Writes on its own connection in a thread, one transaction for the whole run."""

    _DONE = None

    def __init__(self) -> None:
        self.queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=2)
        self.changed = 0
        self.error: BaseException | None = None
        self.aborted = threading.Event()
        self.thread = threading.Thread(target=self._run, name="billing-rate-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        now = timezone.now()
        try:
            with transaction.atomic():
                _create_work_tables()
                while (batch := self.queue.get()) is not self._DONE:
                    self.changed += _flush(batch, now)
                if self.aborted.is_set():
                    raise _Aborted
                _book_rerating_differences()
        except _Aborted:
            pass
        except BaseException as error:  # handed to the rating thread, which raises it
            self.error = error
            self.aborted.set()
            while self.queue.get() is not self._DONE:  # unblock the producer
                pass
        finally:
            connection.close()

    def write(self, batch: _Batch) -> None:
        if self.aborted.is_set():
            self._raise()
        self.queue.put(batch)

    def finish(self) -> int:
        self.queue.put(self._DONE)
        self.thread.join()
        self._raise()
        return self.changed

    def abort(self) -> None:
        self.aborted.set()
        self.queue.put(self._DONE)
        self.thread.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


class _Aborted(Exception):
    pass


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def _flush(batch: _Batch, now: datetime) -> int:
    """Write one batch of changed charges; keep the ones already booked on the ledger for the adjustment pass."""
    batch.buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.copy_from(batch.buffer, "billing_rerate_batch", columns=_COPY_COLUMNS)
        # Without statistics the planner guesses a tiny batch is huge and scans every CDR to join it.
        cursor.execute("ANALYZE billing_rerate_batch")
        # invoice_id IS NULL again: a CDR an invoice claimed since it was read keeps the charge it was invoiced at.
        cursor.execute(
            "UPDATE cdr_calldetailrecord AS c SET charge = r.charge, billed_seconds = r.billed, "
            "destination_group = r.grp, tariff = r.tariff, currency = r.currency, rated_at = %s "
            "FROM billing_rerate_batch AS r WHERE c.id = r.id AND c.id BETWEEN %s AND %s AND c.invoice_id IS NULL "
            "RETURNING c.id",
            [now, batch.low, batch.high],
        )
        updated = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "INSERT INTO billing_rerate SELECT * FROM billing_rerate_batch "
            "WHERE old_charge IS NOT NULL AND old_charge <> charge AND id = ANY(%s)",
            [updated],
        )
        cursor.execute("TRUNCATE billing_rerate_batch")
        return len(updated)


def _book_rerating_differences() -> None:
    """A changed charge that was already booked on the ledger: book the difference as an adjustment."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT r.enterprise_id, r.id, c.charge FROM billing_rerate AS r "
            "JOIN cdr_calldetailrecord AS c ON c.id = r.id "
            "JOIN billing_ledgerentry AS l ON l.key = 'cdr:' || r.id::text ORDER BY r.enterprise_id, r.id"
        )
        differences = cursor.fetchall()
    from billing.services.ledger import lock_account, post_entry

    for enterprise_id, cdr_id, charge in differences:
        account = lock_account(enterprise_id=enterprise_id)
        if account is None:
            continue
        booked = LedgerEntry.objects.filter(account=account, reference=f"cdr:{cdr_id}")
        difference = -Decimal(charge) - (booked.aggregate(total=Sum("amount"))["total"] or Decimal(0))
        if difference == 0:
            continue
        post_entry(
            account=account,
            kind=LedgerEntry.Kind.ADJUSTMENT,
            amount=difference,
            key=f"rerate:{cdr_id}:{booked.count()}",
            reason=gettext_noop("re-rated with the current plan"),
            reference=f"cdr:{cdr_id}",
        )
