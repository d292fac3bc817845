"""Outside working hours, audio captchas, the embedded demo without Redis, the operator's admin pages."""

import stat
from datetime import time
from pathlib import Path

import pytest
from django.test import Client
from django.test.utils import override_settings

from callback.models import CallbackRequest
from tenants import services as tenant_services
from tenants.models import Enterprise
from widget import store
from widget.models import AbuseEvent, BlacklistEntry
from widget.tests.conftest import SHOP, WidgetClient, widget_enterprise

pytestmark = pytest.mark.django_db


def test_outside_working_hours_the_widget_offers_the_next_openings_and_schedules_the_call(
    shop: Enterprise,
) -> None:
    # given: an enterprise closed all week but one interval three days ahead
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    weekday = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=3)).weekday()
    tenant_services.working_hours_replace(
        enterprise=shop, intervals=[tenant_services.OpeningInterval(weekday, time(9), time(18))]
    )
    api = WidgetClient(shop)
    # when
    config = api.config().json()
    submitted = api.submit().json()
    # then
    assert config["open_now"] is False
    first = datetime.fromisoformat(config["next_openings"][0]["opens_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert (first.weekday(), first.hour, first.minute) == (weekday, 9, 0)
    assert len(config["next_openings"]) == 3
    assert (submitted["phase"], submitted["status"], submitted["reason_code"]) == (
        "scheduled",
        "scheduled",
        "outside_working_hours",
    )
    assert submitted["due_at"] == config["next_openings"][0]["opens_at"]
    assert CallbackRequest.objects.get().status == "scheduled"


def fake_flite(tmp_path: Path) -> str:
    script = tmp_path / "flite"
    script.write_text('#!/bin/sh\n# -t TEXT -o FILE\nprintf "RIFF-fake-wav" > "$4"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_an_audio_captcha_is_offered_where_flite_is_installed(shop: Enterprise, tmp_path: Path) -> None:
    with override_settings(WIDGET_CAPTCHA_FLITE_PATH=fake_flite(tmp_path)):
        api = WidgetClient(shop)
        response = api.client.post(f"{api.base}/captcha", HTTP_ORIGIN=SHOP)
        audio_url = response.json()["audio_url"]
        audio = api.client.get(audio_url.replace("http://testserver", ""))
    assert (audio.status_code, audio["Content-Type"], audio.content) == (200, "audio/wav", b"RIFF-fake-wav")
    assert api.config().json()["captcha"]["audio"] is False  # without flite: no audio link


def test_without_redis_the_embedded_demo_keeps_limits_in_its_process(shop: Enterprise) -> None:
    with override_settings(WIDGET_REDIS_URL=""):
        assert isinstance(store.get_store(), store.LocalStore)
        api = WidgetClient(shop)
        assert api.submit("13900001001").status_code == 201
        assert api.submit("13900001002").status_code == 201
        assert api.submit("13900001003").status_code == 201
        assert api.submit("13900001004").json()["code"] == "client_numbers_limit_hour"


@override_settings(DEBUG=True)
def test_a_demo_page_embeds_the_widget_on_a_developers_machine(shop: Enterprise, client: Client) -> None:
    page = client.get(f"/widget/demo/{shop.public_key}/")
    assert page.status_code == 200
    assert f"/widget/{shop.public_key}.js" in page.content.decode()


def test_there_is_no_demo_page_in_production(shop: Enterprise, client: Client) -> None:
    assert client.get(f"/widget/demo/{shop.public_key}/").status_code == 404


def test_the_operator_reads_the_abuse_log_and_lifts_blocks_in_the_admin(shop: Enterprise, admin_client: Client) -> None:
    # given: a refusal and an automatic block
    WidgetClient(shop).submit(answer="wrong")
    entry = BlacklistEntry.objects.create(kind="number", value="+8613900001005", source="automatic")
    # when
    log = admin_client.get("/admin/widget/abuseevent/")
    lifted = admin_client.post(
        "/admin/widget/blacklistentry/", {"action": "lift", "_selected_action": [entry.pk]}, follow=True
    )
    # then
    assert log.status_code == 200 and "captcha_invalid" in log.content.decode()
    assert lifted.status_code == 200
    entry.refresh_from_db()
    assert entry.lifted_at is not None
    for page in ("widgetpolicy/add/", "widgetsettings/", "lead/", "blacklistentry/add/"):
        assert admin_client.get(f"/admin/widget/{page}").status_code == 200, page
    assert AbuseEvent.objects.count() == 1


def test_an_operator_policy_is_edited_in_the_admin(shop: Enterprise, admin_client: Client) -> None:
    other = widget_enterprise("globex", numbers=("+8613900001100",))
    response = admin_client.post(
        "/admin/widget/widgetpolicy/add/",
        {
            "enterprise": other.pk,
            "allow_international": "on",
            "allowed_number_types": ["toll_free"],
            "client_per_minute": 2,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert other.widget_policy.allowed_number_types == ["toll_free"]
    assert other.widget_policy.client_per_minute == 2
