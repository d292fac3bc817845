"""huibo.prepared: the engine's hot statements, planned once per connection, give what the plain ones give."""

import pytest
from django.db import connection, transaction

from huibo import prepared
from tenants.models import Enterprise

pytestmark = pytest.mark.django_db(transaction=True)

NAMES_LIKE = f"SELECT name FROM {Enterprise._meta.db_table} WHERE slug LIKE %s AND name <> '100%%' ORDER BY id"


def _names(pattern: str) -> list[str]:
    with connection.cursor() as cursor:
        prepared.execute(cursor, NAMES_LIKE, [pattern])
        return [name for (name,) in cursor.fetchall()]


def test_the_same_statement_with_new_values_and_a_literal_percent() -> None:
    Enterprise.objects.create(name="Acme", slug="acme")
    Enterprise.objects.create(name="Apex", slug="apex")
    assert _names("a%") == ["Acme", "Apex"]
    assert _names("ac%") == ["Acme"]


def test_a_rolled_back_transaction_and_a_new_connection_keep_it_working() -> None:
    Enterprise.objects.create(name="Acme", slug="acme")
    with pytest.raises(RuntimeError), transaction.atomic():
        assert _names("a%") == ["Acme"]  # prepared inside the transaction that rolls back
        raise RuntimeError
    assert _names("a%") == ["Acme"]
    connection.close()
    assert _names("a%") == ["Acme"]


def test_statements_sent_together_run_in_order_each_seeing_the_ones_before() -> None:
    Enterprise.objects.create(name="Acme", slug="acme")
    with transaction.atomic(), connection.cursor() as cursor:
        for timeout in ("3s", "4s"):  # the second time, all of them already prepared
            prepared.execute_together(
                cursor,
                [
                    ("SELECT set_config('lock_timeout', %s, true)", [timeout]),
                    (NAMES_LIKE, ["a%"]),
                    ("SELECT current_setting('lock_timeout'), %s", ["last"]),
                ],
            )
            assert cursor.fetchall() == [(timeout, "last")]
