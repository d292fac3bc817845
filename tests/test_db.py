"""huibo.db: the hot paths' plain statements do what the ORM's would."""

import pytest
from django.db import transaction

from huibo import db
from tenants.models import Enterprise

pytestmark = pytest.mark.django_db

NAME_AND_STATUS = "SELECT e.name, e.status FROM changed e"


def test_row_update_fetch_reads_the_row_it_changed_as_it_is_now() -> None:
    # given
    enterprise = Enterprise.objects.create(name="Acme", slug="acme", status=Enterprise.Status.ACTIVE)
    # when
    with transaction.atomic():
        row = db.row_update_fetch(
            Enterprise,
            where={"id": enterprise.pk, "status": Enterprise.Status.ACTIVE},
            values={"status": Enterprise.Status.SUSPENDED},
            select=NAME_AND_STATUS,
        )
    # then
    assert row is not None and tuple(row) == ("Acme", Enterprise.Status.SUSPENDED)
    assert Enterprise.objects.get(pk=enterprise.pk).status == Enterprise.Status.SUSPENDED


def test_row_update_fetch_changes_and_reads_nothing_when_the_row_moved_on() -> None:
    # given
    enterprise = Enterprise.objects.create(name="Acme", slug="acme", status=Enterprise.Status.SUSPENDED)
    # when
    with transaction.atomic():
        row = db.row_update_fetch(
            Enterprise,
            where={"id": enterprise.pk, "status": Enterprise.Status.ACTIVE},
            values={"status": Enterprise.Status.SUSPENDED, "name": "Renamed"},
            select=NAME_AND_STATUS,
        )
    # then
    assert row is None
    assert Enterprise.objects.filter(pk=enterprise.pk, name="Acme").exists()
