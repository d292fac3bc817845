"""The portal's Integrations pages: a key is shown once, revoked on demand; webhooks and their log stay in
their tenant; viewers read but do not change."""

import re

import pytest
from django.test import Client

from integrations.models import ApiKey, WebhookDelivery
from integrations.services import api_keys, webhooks
from tenants.models import Enterprise, Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(enterprise_admin: object) -> Client:
    client = Client()
    client.login(username="acme-admin", password="pw-acme-admin-1")
    return client


def test_a_new_key_is_shown_once_and_stored_hashed(portal: Client, enterprise: Enterprise) -> None:
    # when the admin creates a key
    created = portal.post("/portal/integrations/", {"name": "CRM server"})
    # then the page shows it, in this response only
    secret = re.search(r'<code id="new-api-key">([^<]+)</code>', created.content.decode()).group(1)  # type: ignore[union-attr]
    assert created["Cache-Control"].startswith("max-age=0")
    assert api_keys.api_key_authenticate(presented=secret) == ApiKey.objects.get(enterprise=enterprise)
    listed = portal.get("/portal/integrations/").content.decode()
    assert "CRM server" in listed and secret not in listed


def test_a_revoked_key_stops_working(portal: Client, enterprise: Enterprise) -> None:
    created = api_keys.api_key_create(name="old", enterprise=enterprise)
    response = portal.post(f"/portal/integrations/keys/{created.api_key.pk}/revoke/")
    assert response.status_code == 302
    assert api_keys.api_key_authenticate(presented=created.secret) is None


def test_another_tenants_keys_webhooks_and_deliveries_are_404(portal: Client, other_enterprise: Enterprise) -> None:
    # given globex's key, webhook and a delivery
    key = api_keys.api_key_create(name="theirs", enterprise=other_enterprise)
    subscription = webhooks.webhook_subscription_create(
        enterprise=other_enterprise, url="https://globex.example.com/hook", events=["callback.completed"]
    )
    [delivery] = webhooks.webhook_event_publish(
        enterprise_id=other_enterprise.pk, event_type=webhooks.WebhookEvent.CALLBACK_COMPLETED, data={}
    )
    # when acme's admin tries each of them
    attempts = [
        ("post", f"/portal/integrations/keys/{key.api_key.pk}/revoke/"),
        ("get", f"/portal/integrations/webhooks/{subscription.pk}/"),
        ("post", f"/portal/integrations/webhooks/{subscription.pk}/secret/"),
        ("post", f"/portal/integrations/webhooks/{subscription.pk}/delete/"),
        ("get", f"/portal/integrations/deliveries/{delivery.pk}/"),
        ("post", f"/portal/integrations/deliveries/{delivery.pk}/replay/"),
    ]
    for method, path in attempts:
        assert getattr(portal, method)(path).status_code == 404, path
    # then nothing changed
    assert api_keys.api_key_authenticate(presented=key.secret) is not None
    subscription.refresh_from_db()
    assert WebhookDelivery.objects.count() == 1
    assert "globex" not in portal.get("/portal/integrations/deliveries/").content.decode()


def test_an_admin_adds_a_webhook_and_replays_a_delivery(portal: Client, enterprise: Enterprise) -> None:
    response = portal.post(
        "/portal/integrations/webhooks/",
        {"url": "https://crm.example.com/hook", "events": ["callback.completed", "cdr.ready"], "enabled": "on"},
    )
    subscription = enterprise.webhook_subscriptions.get()
    assert response.status_code == 302
    assert (subscription.events, subscription.enabled) == (["callback.completed", "cdr.ready"], True)
    assert subscription.secret in portal.get(f"/portal/integrations/webhooks/{subscription.pk}/").content.decode()
    [delivery] = webhooks.webhook_event_publish(
        enterprise_id=enterprise.pk, event_type=webhooks.WebhookEvent.CDR_READY, data={"cdrs": []}
    )
    replayed = portal.post(f"/portal/integrations/deliveries/{delivery.pk}/replay/")
    replay = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert replayed["Location"].endswith(f"/portal/integrations/deliveries/{replay.pk}/")
    assert (replay.event_id, replay.replay_of_id) == (delivery.event_id, delivery.pk)
    log = portal.get("/portal/integrations/deliveries/").content.decode()
    assert log.count("cdr.ready") == 2


def test_a_viewer_reads_but_cannot_create_keys(enterprise: Enterprise, django_user_model: object) -> None:
    user = django_user_model.objects.create_user("acme-viewer", password="pw-viewer-1")  # type: ignore[attr-defined]
    Membership.objects.create(user=user, enterprise=enterprise, role=Membership.Role.VIEWER)
    client = Client()
    client.login(username="acme-viewer", password="pw-viewer-1")
    assert client.get("/portal/integrations/").status_code == 200
    assert client.post("/portal/integrations/", {"name": "sneaky"}).status_code == 403
    assert not ApiKey.objects.exists()
