"""Each web process caches widgets and the blacklist for WIDGET_CACHE_SECONDS; its own writes apply at once."""

import pytest
from django.test.utils import override_settings

from tenants.models import Enterprise
from widget import selectors, services
from widget.models import BlacklistEntry
from widget.tests.conftest import WidgetClient

pytestmark = pytest.mark.django_db


@override_settings(WIDGET_CACHE_SECONDS=60)
def test_a_served_widget_is_read_once_per_process(shop: Enterprise, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    selectors.widget_cache_forget()
    selectors.widget_by_public_key(public_key=shop.public_key)
    with django_assert_num_queries(0):
        assert selectors.widget_by_public_key(public_key=shop.public_key) is not None


@override_settings(WIDGET_CACHE_SECONDS=60)
def test_a_settings_change_made_here_applies_at_once(shop: Enterprise) -> None:
    selectors.widget_cache_forget()
    assert WidgetClient(shop).config().status_code == 200
    services.widget_settings_update(enterprise=shop, enabled=False)
    assert WidgetClient(shop).config().status_code == 404


@override_settings(WIDGET_CACHE_SECONDS=60)
def test_a_block_made_here_applies_at_once_and_so_does_its_lifting(shop: Enterprise) -> None:
    api = WidgetClient(shop)
    assert api.submit("13900001001").status_code == 201
    entry = services.blacklist_add(enterprise=shop, number="+8613900001002")
    assert api.submit("13900001002").json()["code"] == "number_blocked"
    services.blacklist_lift(entry=entry)
    assert api.submit("13900001002").status_code == 201


@override_settings(WIDGET_CACHE_SECONDS=60)
def test_an_entry_written_elsewhere_applies_once_the_cache_is_old(shop: Enterprise) -> None:
    from widget import abuse

    api = WidgetClient(shop)
    assert api.submit("13900001001").status_code == 201
    BlacklistEntry.objects.create(kind="number", value="+8613900001002")  # another process, say the admin
    with override_settings(WIDGET_CACHE_SECONDS=0):
        assert api.submit("13900001002").json()["code"] == "number_blocked"
    abuse.blacklist_cache_forget()
