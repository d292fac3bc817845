"""The enterprise portal shows and edits only the logged-in admin's own enterprise."""

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from tenants.models import BoundNumber, Enterprise, Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client: Client, enterprise_admin) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(enterprise_admin)
    return client


def test_login_page_answers_in_both_languages(client: Client) -> None:
    assert "Log in to your enterprise portal" in client.get("/portal/login/").content.decode()
    assert "登录" in client.get("/zh-hans/portal/login/").content.decode()


def test_anonymous_visitor_is_sent_to_login(client: Client) -> None:
    response = client.get(reverse("portal:bound_numbers"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_the_site_root_leads_each_kind_of_user_home(client: Client, enterprise_admin, admin_user) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/", follow=True).redirect_chain[-1][0].startswith(reverse("portal:login"))
    client.force_login(enterprise_admin)
    assert client.get("/", follow=True).redirect_chain[-1][0] == reverse("portal:dashboard")
    # operator staff, who belong to no enterprise, land on their console; the admin's "View site" leads there too
    client.force_login(admin_user)
    assert client.get("/", follow=True).redirect_chain[-1][0] == reverse("console:live_calls")
    assert f'href="{reverse("console:live_calls")}"' in client.get("/admin/").content.decode()


def test_admin_sees_only_their_own_bound_numbers(portal: Client, other_enterprise: Enterprise) -> None:
    page = portal.get(reverse("portal:bound_numbers")).content.decode()
    assert "+8613800001100" in page
    assert "+8613900001100" not in page


def test_admin_cannot_open_edit_or_delete_another_tenants_number(portal: Client, other_enterprise: Enterprise) -> None:
    # given
    foreign = other_enterprise.bound_numbers.get()
    # when
    opened = portal.get(reverse("portal:bound_number_edit", args=[foreign.pk]))
    edited = portal.post(reverse("portal:bound_number_edit", args=[foreign.pk]), {"number": "+8613900009999"})
    deleted = portal.post(reverse("portal:bound_number_delete", args=[foreign.pk]))
    # then
    assert (opened.status_code, edited.status_code, deleted.status_code) == (404, 404, 404)
    assert BoundNumber.objects.get(pk=foreign.pk).number == "+8613900001100"


def test_admin_adds_a_number_to_their_own_enterprise(portal: Client, enterprise: Enterprise) -> None:
    response = portal.post(
        reverse("portal:bound_number_new"),
        {"number": "139 0000 1005", "label": "Sales", "priority": 2, "enabled": "on"},
    )
    assert response.status_code == 302
    assert list(enterprise.bound_numbers.values_list("number", flat=True)) == ["+8613800001100", "+8613900001005"]


def test_invalid_number_in_the_portal_shows_why(portal: Client, enterprise: Enterprise) -> None:
    response = portal.post(reverse("portal:bound_number_new"), {"number": "+86 138", "priority": 1, "enabled": "on"})
    assert response.status_code == 200
    assert "This number has the wrong length for its country." in response.content.decode()
    assert enterprise.bound_numbers.count() == 1


def test_overlapping_hours_in_the_portal_show_why_and_keep_the_old_schedule(
    portal: Client, enterprise: Enterprise
) -> None:
    form = {
        "hours-TOTAL_FORMS": "2",
        "hours-INITIAL_FORMS": "0",
        "hours-0-weekday": "0",
        "hours-0-opens_at": "09:00",
        "hours-0-closes_at": "12:00",
        "hours-1-weekday": "0",
        "hours-1-opens_at": "11:00",
        "hours-1-closes_at": "13:00",
    }
    response = portal.post(reverse("portal:working_hours"), form)
    assert "Monday: 09:00–12:00 and 11:00–13:00 overlap." in response.content.decode()
    assert enterprise.working_hours.count() == 7


def test_settings_change_applies_to_own_enterprise_only(
    portal: Client, enterprise: Enterprise, other_enterprise: Enterprise
) -> None:
    form = {
        "time_zone": "Asia/Shanghai",
        "default_country": "CN",
        "caller_id": "010 6552 9988",
        "call_order": "visitor_first",
        "hunting_strategy": "round_robin",
        "ring_timeout_seconds": 25,
        "visitor_retries": 2,
        "visitor_retry_spacing_seconds": 60,
    }
    assert portal.post(reverse("portal:settings"), form).status_code == 302
    enterprise.refresh_from_db()
    other_enterprise.refresh_from_db()
    assert (enterprise.caller_id, enterprise.hunting_strategy) == ("+861065529988", "round_robin")
    assert other_enterprise.hunting_strategy == "sequential"


def test_viewer_can_read_but_not_change(client: Client, enterprise: Enterprise, django_user_model) -> None:  # type: ignore[no-untyped-def]
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-1")
    Membership.objects.create(user=viewer, enterprise=enterprise, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    assert client.get(reverse("portal:bound_numbers")).status_code == 200
    response = client.post(reverse("portal:bound_number_delete", args=[enterprise.bound_numbers.get().pk]))
    assert response.status_code == 403
    assert enterprise.bound_numbers.count() == 1


def test_times_on_the_portal_read_in_the_enterprises_zone(portal: Client, enterprise: Enterprise) -> None:
    # given an API key made at 01:30 UTC, for an enterprise in Shanghai (UTC+8)
    from integrations.models import ApiKey
    from integrations.services.api_keys import api_key_create

    Enterprise.objects.filter(pk=enterprise.pk).update(time_zone="Asia/Shanghai")
    api_key_create(name="crm", enterprise=enterprise)
    ApiKey.objects.update(created_at=datetime(2026, 11, 20, 1, 30, tzinfo=UTC))
    # when
    page = portal.get(reverse("integrations:api_keys")).content.decode()
    # then
    assert "2026-11-20 09:30" in page
    assert "2026-11-20 01:30" not in page
