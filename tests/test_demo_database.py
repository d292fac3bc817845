"""`make demo` runs on the embedded SQLite database, which keeps decimals as REAL: money read back by plain
statements must still come back as Decimal. Every other test runs on PostgreSQL; this one drives the billing path,
the billing pages and a widget submission's rows on a fresh SQLite database in a process of its own, as the demo
does."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
from datetime import UTC, date, datetime
from decimal import Decimal
from billing import services as billing_services
from django.contrib.auth import get_user_model
from django.test import Client
from billing.services.ledger import funds_of
from billing.tests.helpers import billed_enterprise, end_call, place_call
from cdr.services import cdr_record_attempt
from conftest import make_enterprise
from tenants.models import Membership

from tenants.models import Enterprise
from widget.selectors import widget_of
demo = widget_of(enterprise=Enterprise.objects.get(slug="demo"))
assert demo.settings.allowed_origins == ["http://127.0.0.1:8123"], demo.settings.allowed_origins
enterprise = make_enterprise("sqlite-demo")
billed_enterprise(enterprise, top_up="100")
for talk in (7, 61, 30):  # every call after the first charged one failed: a REAL balance plus a Decimal charge
    attempt = place_call(enterprise)
    assert attempt is not None, "the call was not placed"
    end_call(attempt, talk_seconds=talk)
    cdr_record_attempt(attempt_id=attempt.pk)
funds = funds_of(account=enterprise.billing_account)
assert isinstance(funds.balance, Decimal) and isinstance(funds.reserved, Decimal), funds
print("balance", funds.balance, "reserved", funds.reserved)
admin = get_user_model().objects.create_user("sqlite-admin", password="pw-sqlite-demo")
Membership.objects.create(user=admin, enterprise=enterprise, role="owner")
client = Client()
client.force_login(admin)
today = date.today()
next_month = date(today.year + today.month // 12, today.month % 12 + 1, 1)
invoice = billing_services.invoice_issue(
    enterprise=enterprise, period_start=today.replace(day=1), period_end=next_month,
    now=datetime.combine(next_month, datetime.min.time(), tzinfo=UTC),
)
assert invoice is not None and invoice.total_amount == invoice.total_amount.quantize(Decimal("0.01")), invoice
assert invoice.subtotal == sum(funds_spent for funds_spent in invoice.lines.values_list("amount", flat=True))
print("invoice", invoice.number, invoice.total_amount)
for path in (
    "/portal/billing/", "/portal/dashboard/billing/", "/portal/billing/invoices/",
    f"/portal/billing/invoices/{invoice.pk}/csv/", f"/portal/billing/invoices/{invoice.pk}/pdf/",
):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    if not path.endswith("/pdf/"):
        assert b"00000000" not in response.content, ("an amount shown with a float's digits", path)
    print(path, response.status_code)
# a widget submission's request and lead, which PostgreSQL inserts in one statement, are saved one by one here
from callback.services.requests import RowWithRequest
from widget import abuse
from widget import services as widget_services
from widget.models import Lead
submission = widget_services.callback_admit(
    enterprise=enterprise, number="+8613900001005", source="widget", now=datetime.now(UTC),
    limits=abuse.limits_for(policy=widget_of(enterprise=enterprise).policy), client_ip="203.0.113.9",
    rows_with=[RowWithRequest(Lead(enterprise=enterprise, page_url="https://shop.example.com/"), "callback_request")],
)
print("lead", Lead.objects.get(callback_request=submission.request).page_url)
"""


def test_the_demo_database_bills_call_after_call_and_shows_the_balance(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "huibo.settings",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "sqlite-demo-test",
        "ALLOWED_HOSTS": "testserver",
    }
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    migrated = run("migrate", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    for _twice in range(2):  # as every `make demo` does: the second run changes nothing
        seeded = run("seed_demo", "--site", "http://127.0.0.1:8123")
        assert seeded.returncode == 0, seeded.stderr
    shell = run("shell", "-c", SCRIPT)
    assert shell.returncode == 0, shell.stderr[-3000:]
    assert "balance 99." in shell.stdout
    assert "invoice INV-" in shell.stdout
    assert "lead https://shop.example.com/" in shell.stdout
