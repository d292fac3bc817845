"""The widget's portal pages: settings with the snippet and preview, leads (list, filter, CSV), blocked numbers.
Each page shows and changes only the logged-in admin's enterprise."""

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from callback.services.requests import callback_request_create
from tenants.models import Enterprise, Membership
from widget import services
from widget.models import BlacklistEntry, Lead, WidgetSettings
from widget.tests.conftest import widget_enterprise

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client: Client, enterprise_admin) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(enterprise_admin)
    return client


def make_lead(enterprise: Enterprise, number: str, **fields: str) -> Lead:
    request = callback_request_create(enterprise=enterprise, visitor_number=number)
    return Lead.objects.create(enterprise=enterprise, callback_request=request, **fields)


def test_the_settings_page_shows_the_snippet_with_the_key_and_a_live_preview(
    portal: Client, enterprise: Enterprise
) -> None:
    page = portal.get(reverse("widget_portal:settings")).content.decode()
    assert f'<script src="http://testserver/widget/{enterprise.public_key}.js" data-preview async>' in page
    assert "&lt;script src=&quot;http://testserver/widget/" in page  # the snippet to copy, shown as text
    assert 'id="widget-copy"' in page
    assert "data-preview" in page


def test_saving_settings_normalises_origins_and_countries(portal: Client, enterprise: Enterprise) -> None:
    response = portal.post(
        reverse("widget_portal:settings"),
        {
            "enabled": "on",
            "title": "Call\r\nme",
            "primary_color": "#112233",
            "text_color": "#ffffff",
            "position": "bottom_left",
            "language": "zh-hans",
            "allowed_origins": "https://WWW.Example.com:443/shop\nhttp://localhost:8080",
            "allowed_countries": "cn, hk",
        },
    )
    assert response.status_code == 302
    saved = WidgetSettings.objects.get(enterprise=enterprise)
    assert saved.allowed_origins == ["http://localhost:8080", "https://www.example.com"]
    assert saved.allowed_countries == ["CN", "HK"]
    assert (saved.title, saved.position, saved.language) == ("Callme", "bottom_left", "zh-hans")


def test_an_address_that_is_not_a_website_is_refused_with_the_reason(portal: Client, enterprise: Enterprise) -> None:
    response = portal.post(
        reverse("widget_portal:settings"),
        {
            "primary_color": "#112233",
            "text_color": "#ffffff",
            "position": "bottom_left",
            "language": "auto",
            "allowed_origins": "javascript:alert(1)",
        },
    )
    assert response.status_code == 200
    assert "is not a website address" in response.content.decode()
    assert not WidgetSettings.objects.filter(enterprise=enterprise).exists()


def test_a_viewer_cannot_change_the_settings(portal: Client, enterprise: Enterprise, enterprise_admin) -> None:  # type: ignore[no-untyped-def]
    Membership.objects.filter(user=enterprise_admin).update(role=Membership.Role.VIEWER)
    response = portal.post(reverse("widget_portal:settings"), {"allowed_origins": "https://evil.example"})
    assert response.status_code == 403
    assert not WidgetSettings.objects.exists()


def test_leads_are_listed_newest_first_fifty_a_page(
    portal: Client, enterprise: Enterprise, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    for i in range(60):
        make_lead(enterprise, f"+86139000{i:05d}", utm_source="baidu")
    with django_assert_max_num_queries(8):
        first = portal.get(reverse("widget_portal:leads"))
    second = portal.get(reverse("widget_portal:leads") + "?page=2")
    assert first.content.decode().count("+86139000") == 50
    assert "+8613900000059" in first.content.decode()
    assert second.content.decode().count("+86139000") == 10


def test_leads_filter_by_campaign_and_number(portal: Client, enterprise: Enterprise) -> None:
    make_lead(enterprise, "+8613900001001", utm_source="baidu", utm_campaign="spring")
    make_lead(enterprise, "+8613900001002", utm_source="google", utm_campaign="autumn")
    page = portal.get(reverse("widget_portal:leads") + "?utm_source=Baidu").content.decode()
    assert "+8613900001001" in page and "+8613900001002" not in page
    page = portal.get(reverse("widget_portal:leads") + "?number=1002").content.decode()
    assert "+8613900001002" in page and "+8613900001001" not in page


def test_another_tenants_leads_are_never_shown_or_exported(portal: Client, enterprise: Enterprise) -> None:
    other = widget_enterprise("globex", numbers=("+8613900001100",))
    make_lead(other, "+8613900009999")
    make_lead(enterprise, "+8613900001001")
    assert "+8613900009999" not in portal.get(reverse("widget_portal:leads")).content.decode()
    export = b"".join(portal.get(reverse("widget_portal:leads_csv")).streaming_content).decode()
    assert "+8613900009999" not in export and "+8613900001001" in export


def test_the_csv_export_has_every_lead_and_defuses_formulas(portal: Client, enterprise: Enterprise) -> None:
    make_lead(enterprise, "+8613900001001", utm_source='=HYPERLINK("http://x")', page_url="https://a.example/?q=1")
    response = portal.get(reverse("widget_portal:leads_csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 1
    assert rows[0]["visitor_number"] == "+8613900001001"
    assert rows[0]["utm_source"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["page_url"] == "https://a.example/?q=1"


def test_an_admin_blocks_and_unblocks_a_number_for_their_enterprise(portal: Client, enterprise: Enterprise) -> None:
    response = portal.post(reverse("widget_portal:blacklist"), {"number": "139 0000 1005", "reason": "prank"})
    assert response.status_code == 302
    entry = BlacklistEntry.objects.get()
    assert (entry.enterprise, entry.value, entry.kind) == (enterprise, "+8613900001005", "number")
    portal.post(reverse("widget_portal:blacklist_lift", args=[entry.pk]))
    entry.refresh_from_db()
    assert entry.lifted_at is not None


def test_an_admin_cannot_see_or_lift_the_operators_or_another_tenants_entries(
    portal: Client, enterprise: Enterprise
) -> None:
    other = widget_enterprise("globex", numbers=("+8613900001100",))
    theirs = services.blacklist_add(enterprise=other, number="+8613900009999")
    global_entry = services.blacklist_add(enterprise=None, number="+8613900008888")
    page = portal.get(reverse("widget_portal:blacklist")).content.decode()
    assert "+8613900009999" not in page and "+8613900008888" not in page
    for entry in (theirs, global_entry):
        assert portal.post(reverse("widget_portal:blacklist_lift", args=[entry.pk])).status_code == 404
        entry.refresh_from_db()
        assert entry.lifted_at is None


def test_the_pages_answer_in_chinese(portal: Client) -> None:
    response = portal.get("/zh-hans/portal/widget/leads/")
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "zh-hans"
