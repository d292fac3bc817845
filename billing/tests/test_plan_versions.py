"""Each process keeps tenants' plans compiled; a price changed through the services or the admin counts from the
next call on, in every process (the plan's rates_version is the key)."""

from decimal import Decimal

import pytest

from billing import services as billing_services
from billing.models import Rate
from billing.rating import LegRole
from billing.tests.helpers import billed_enterprise
from tenants.models import Enterprise

pytestmark = pytest.mark.django_db

MOBILE = "+8613800001100"


def _price(enterprise: Enterprise) -> Decimal | None:
    context = billing_services.rating_context_for(enterprise_id=enterprise.pk)
    assert context is not None
    tariff = context.table.lookup(LegRole.ENTERPRISE, MOBILE)
    return tariff.price_per_minute if tariff else None


def test_a_price_edited_or_removed_is_the_one_the_next_call_sees(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise)
    assert _price(enterprise) == Decimal("0.12")
    mobile = Rate.objects.get(number_type="mobile")
    mobile.price_per_minute = Decimal("0.15")
    mobile.save()  # as the admin's rate inline does
    assert _price(enterprise) == Decimal("0.15")
    mobile.delete()
    assert _price(enterprise) is None


def test_a_rate_added_by_the_services_counts_at_once(enterprise: Enterprise) -> None:
    account = billed_enterprise(enterprise)
    assert _price(enterprise) == Decimal("0.12")
    billing_services.rate_create(
        plan=account.rate_plan, destination_group="Our own mobiles", prefix="86138000", price_per_minute=Decimal("0.05")
    )
    assert _price(enterprise) == Decimal("0.05")
