"""``make bench-billing``: rating and invoicing at operator scale.

Creates its own database (huibo_bench_billing, dropped at the end), migrates it, and generates 1,000 billed tenants
with 1,000,000 unrated leg CDRs of November 2026 through COPY (500 calls of two legs each per tenant; visitor
numbers spread over prefix rates, number-type rates and international numbers; 15 % unanswered legs). Then:

1. rates every leg with the production bulk path (billing.services.cdrs_rate: server-side cursor, the compiled
   plan, COPY into a temporary table, one UPDATE per batch) and prints legs rated per second;
2. re-rates once more (must change nothing, B3);
3. runs the month's invoice run (billing.services.invoices_issue_month: one invoice per tenant, numbered without
   gaps) and prints its time, then checks every invoice against the sum of its CDRs to the cent.

Targets on the project's 2-core machine: ≥ 20,000 legs/s rated; the whole invoice run ≤ 60 s.
"""

import argparse
import io
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DB = "huibo_bench_billing"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("SECRET_KEY", "bench")
os.environ["DJANGO_SETTINGS_MODULE"] = "huibo.settings"
os.environ.setdefault("LOG_LEVEL", "WARNING")

MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
NULL = "\\N"  # COPY's NULL
# Visitor numbers: (prefix, digits to add) with their share; the plan prices the first three by prefix.
VISITOR_MIX = [("86139", 8, 40), ("86138", 8, 25), ("8610", 8, 15), ("86150", 8, 10), ("8621", 8, 5), ("4420", 8, 5)]


def _admin_connection():  # type: ignore[no-untyped-def]
    import psycopg2

    connection = psycopg2.connect(f"{PG}/postgres")
    connection.autocommit = True
    return connection


def create_database() -> None:
    connection = _admin_connection()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {BENCH_DB}")
    connection.close()


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    connection = _admin_connection()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    connection.close()


def setup_tenants(tenants: int) -> list[int]:
    from decimal import Decimal

    from billing import services
    from billing.models import BillingAccount
    from tenants.models import Enterprise

    plan = services.rate_plan_create(name="Bench standard")
    for prefix, group, price, leg in [
        ("86139", "China Mobile 139", "0.20", "visitor"),
        ("86138", "China Mobile 138", "0.18", "any"),
        ("8610", "Beijing fixed line", "0.10", "any"),
    ]:
        services.rate_create(
            plan=plan,
            destination_group=group,
            prefix=prefix,
            leg=leg,
            price_per_minute=Decimal(price),
            connection_fee=Decimal("0.02") if leg == "visitor" else Decimal(0),
        )
    for number_type, group, price, increment in [
        ("mobile", "China mobile", "0.12", "6/6"),
        ("fixed_line", "China fixed line", "0.10", "6/6"),
        ("international", "International", "1.20", "30/6"),
    ]:
        services.rate_create(
            plan=plan,
            destination_group=group,
            number_type=number_type,
            price_per_minute=Decimal(price),
            increment=increment,
            minimum_charge=Decimal("0.05") if number_type == "international" else Decimal(0),
        )
    enterprises = Enterprise.objects.bulk_create(
        Enterprise(name=f"Bench {i:04d}", slug=f"bench-{i:04d}", status="active") for i in range(tenants)
    )
    BillingAccount.objects.bulk_create(
        BillingAccount(enterprise=e, rate_plan=plan, currency="CNY", tax_rate=Decimal("0.06")) for e in enterprises
    )
    return [e.pk for e in enterprises]


def _visitor(generator: random.Random) -> str:
    prefix, digits, _share = generator.choices(VISITOR_MIX, weights=[m[2] for m in VISITOR_MIX])[0]
    return "+" + prefix + "".join(generator.choices("0123456789", k=digits))


def generate_cdrs(enterprise_ids: list[int], legs: int) -> int:
    """COPY ``legs`` unrated leg CDRs, two per call, spread over the tenants and the month."""
    from django.db import connection

    generator = random.Random(2026)
    calls_per_tenant = legs // 2 // len(enterprise_ids)
    columns = (
        "enterprise_id, callback_request_id, attempt_id, role, number, node_name, linkedid, uniqueid, started_at, "
        "answered_at, ended_at, duration_seconds, billable_seconds, disposition, hangup_cause, asterisk_disposition, "
        "currency, destination_group, tariff, created_at"
    )
    month_seconds = 28 * 24 * 3600
    written = 0
    call = 0
    created = datetime.now(UTC).isoformat()
    buffer = io.StringIO()
    with connection.cursor() as cursor:
        for enterprise_id in enterprise_ids:
            bound = "+86138" + "".join(generator.choices("0123456789", k=8))
            for _ in range(calls_per_tenant):
                call += 1
                start = MONTH_START + timedelta(seconds=generator.randrange(month_seconds))
                enterprise_answers = generator.random() < 0.93
                visitor_answers = enterprise_answers and generator.random() < 0.92
                talk = generator.choice([generator.randint(1, 60), generator.randint(30, 900)])
                ring = generator.randint(1, 8)
                connected_at = start + timedelta(seconds=ring + 3)
                end = connected_at + timedelta(seconds=talk if visitor_answers else 20)
                linkedid = f"bench{call:08d}-1"
                for role, number, answered, answer_at in (
                    ("enterprise", bound, enterprise_answers, start + timedelta(seconds=ring)),
                    ("visitor", _visitor(generator), visitor_answers, connected_at),
                ):
                    billable = (end - answer_at) // timedelta(seconds=1) if answered else 0
                    disposition = "answered" if answered else generator.choice(["no_answer", "busy"])
                    answered_text = answer_at.isoformat() if answered else NULL
                    buffer.write(
                        f"{enterprise_id}\t{call}\t{call}\t{role}\t{number}\tpbx-{call % 2 + 1}\t{linkedid}\t\t"
                        f"{start.isoformat()}\t{answered_text}\t{end.isoformat()}\t"
                        f"{(end - start) // timedelta(seconds=1)}\t{billable}\t{disposition}\t16\t\t\t\t\t{created}\n"
                    )
                    written += 1
            if buffer.tell() > 16_000_000:
                buffer.seek(0)
                cursor.copy_expert(f"COPY cdr_calldetailrecord ({columns}) FROM STDIN", buffer)
                buffer = io.StringIO()
        buffer.seek(0)
        cursor.copy_expert(f"COPY cdr_calldetailrecord ({columns}) FROM STDIN", buffer)
        cursor.execute("ANALYZE cdr_calldetailrecord")
    return written


def check_invoices() -> tuple[int, int]:
    """Every invoice equals the sum of its CDR charges to the cent (B3); numbers run 1..N without a gap."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM billing_invoice i JOIN ("
            "  SELECT invoice_id, round(sum(charge), 2) AS exact FROM cdr_calldetailrecord"
            "  WHERE invoice_id IS NOT NULL GROUP BY invoice_id) c ON c.invoice_id = i.id "
            "WHERE i.net_amount <> c.exact"
        )
        mismatched = cursor.fetchone()[0]
        cursor.execute("SELECT count(*), min(sequence), max(sequence) FROM billing_invoice")
        count, first, last = cursor.fetchone()
    assert (first, last) == (1, count), "invoice numbers have a gap"
    return count, mismatched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legs", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    options = parser.parse_args()

    create_database()
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        enterprise_ids = setup_tenants(options.tenants)
        legs = generate_cdrs(enterprise_ids, options.legs)
        print(f"generated {legs:,} leg CDRs for {len(enterprise_ids):,} tenants in {time.perf_counter() - began:.1f} s")

        from billing.services import cdrs_rate, invoices_issue_month

        began = time.perf_counter()
        run = cdrs_rate()
        rating_seconds = time.perf_counter() - began
        rate = run.legs / rating_seconds
        print(
            f"rated {run.legs:,} legs ({run.changed:,} charged, {run.unrated:,} unrated) in {rating_seconds:.1f} s: "
            f"{rate:,.0f} legs/s (target >= 20,000)"
        )
        began = time.perf_counter()
        again = cdrs_rate()
        print(
            f"re-rated {again.legs:,} legs in {time.perf_counter() - began:.1f} s: {again.changed} changed (must be 0)"
        )

        began = time.perf_counter()
        invoices = invoices_issue_month(year=2026, month=11)
        invoice_seconds = time.perf_counter() - began
        print(f"invoice run: {len(invoices):,} invoices in {invoice_seconds:.1f} s (target <= 60 s)")
        count, mismatched = check_invoices()
        print(f"checked {count:,} invoices against their CDRs: {mismatched} off by a cent or more (must be 0)")
        ok = rate >= 20_000 and invoice_seconds <= 60 and again.changed == 0 and mismatched == 0
        print("PASS" if ok else "FAIL")
        if not ok:
            raise SystemExit(1)
    finally:
        if not options.keep:
            drop_database()


if __name__ == "__main__":
    main()
