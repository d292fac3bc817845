"""Shared pytest fixtures: tenants built through our own services."""

from datetime import time

import pytest

from tenants import services
from tenants.models import Enterprise, Membership


def make_enterprise(slug: str, numbers: tuple[str, ...] = ("+8613800001100",), **fields: object) -> Enterprise:
    enterprise = services.enterprise_create(name=f"Enterprise {slug}", slug=slug, **fields)
    for priority, number in enumerate(numbers, start=1):
        services.bound_number_create(enterprise=enterprise, number=number, priority=priority)
    services.working_hours_replace(
        enterprise=enterprise,
        intervals=[services.OpeningInterval(day, time(0, 0), time(23, 59)) for day in range(7)],
    )
    return services.enterprise_update(enterprise=enterprise, status=Enterprise.Status.ACTIVE)


@pytest.fixture
def enterprise(db: None) -> Enterprise:
    return make_enterprise("acme")


@pytest.fixture
def other_enterprise(db: None) -> Enterprise:
    return make_enterprise("globex", numbers=("+8613900001100",))


@pytest.fixture
def enterprise_admin(enterprise: Enterprise, django_user_model):  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_user("acme-admin", password="pw-acme-admin-1")
    Membership.objects.create(user=user, enterprise=enterprise, role=Membership.Role.ADMIN)
    return user


@pytest.fixture(autouse=True)
def english_by_default() -> object:
    """A request in another language leaves it active in the thread; each test starts in English."""
    from django.utils import translation

    with translation.override("en"):
        yield
