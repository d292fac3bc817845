"""API keys and tenant scoping: a key reaches its own enterprise and nothing else (STYLE.md 2, RELIABILITY.md S9)."""

import pytest
from django.utils import timezone

from callback.models import CallbackRequest
from callback.services import requests as callback_requests
from cdr.models import CallDetailRecord
from integrations.services import api_keys
from integrations.tests.conftest import KeyedClient
from tenants.models import Enterprise

pytestmark = pytest.mark.django_db


def _request_of(enterprise: Enterprise) -> CallbackRequest:
    return callback_requests.callback_request_create(enterprise=enterprise, visitor_number="+8613900001005")


def _cdr_of(enterprise: Enterprise, request: CallbackRequest) -> CallDetailRecord:
    return CallDetailRecord.objects.create(
        enterprise=enterprise,
        callback_request_id=request.pk,
        attempt_id=1,
        role="enterprise",
        number="+8613800001100",
        node_name="pbx-1",
        linkedid=f"call-{request.pk}-1",
        started_at=timezone.now(),
        disposition="answered",
    )


def test_without_a_key_the_api_answers_401_in_the_common_error_shape(api: KeyedClient) -> None:
    # given a client that sends no key
    anonymous = KeyedClient(client=type(api.client)(), secret="", enterprise=None)
    # when it lists callbacks
    response = anonymous.client.get("/api/v1/callbacks/")
    # then
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "extra": {},
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="huibo-api"'


def test_an_unknown_or_revoked_key_is_refused(api: KeyedClient, enterprise: Enterprise) -> None:
    # given a revoked key and a made-up one
    revoked = api_keys.api_key_create(name="old", enterprise=enterprise)
    api_keys.api_key_revoke(api_key=revoked.api_key)
    for secret in (revoked.secret, api.secret[:-2] + "xx", "hbk_nothing", "Basic abc"):
        api.client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        # when it calls the API
        response = api.client.get("/api/v1/balance/")
        # then
        assert response.status_code == 401, secret
        assert response.json()["code"] == "invalid_api_key"


def test_the_key_is_stored_only_as_a_hash(enterprise: Enterprise) -> None:
    created = api_keys.api_key_create(name="crm", enterprise=enterprise)
    stored = type(created.api_key).objects.get(pk=created.api_key.pk)
    assert created.secret.startswith(f"hbk_{stored.prefix}_")
    assert created.secret not in (stored.key_hash, stored.prefix, stored.name)
    assert len(stored.key_hash) == 64


def test_every_endpoint_answers_404_for_another_tenants_ids(api: KeyedClient, other_enterprise: Enterprise) -> None:
    # given a callback request and a CDR of another enterprise
    theirs = _request_of(other_enterprise)
    their_cdr = _cdr_of(other_enterprise, theirs)
    # when acme's key asks for them, by id or by naming the other enterprise
    attempts = [
        ("get", f"/api/v1/callbacks/{theirs.correlation_id}/"),
        ("post", f"/api/v1/callbacks/{theirs.correlation_id}/cancel/"),
        ("get", f"/api/v1/cdrs/{their_cdr.pk}/"),
        ("get", "/api/v1/callbacks/?enterprise=globex"),
        ("get", "/api/v1/cdrs/?enterprise=globex"),
        ("get", "/api/v1/invoices/?enterprise=globex"),
        ("get", "/api/v1/balance/?enterprise=globex"),
    ]
    for method, path in attempts:
        response = getattr(api.client, method)(path)
        # then nothing is found, and the shape is the common one
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
    # and nothing changed
    theirs.refresh_from_db()
    assert theirs.status == "accepted"


def test_lists_show_only_the_keys_own_enterprise(
    api: KeyedClient, enterprise: Enterprise, other_enterprise: Enterprise
) -> None:
    # given one request and one CDR in each enterprise
    ours, theirs = _request_of(enterprise), _request_of(other_enterprise)
    _cdr_of(enterprise, ours)
    _cdr_of(other_enterprise, theirs)
    # when acme lists
    callbacks = api.client.get("/api/v1/callbacks/").json()["results"]
    cdrs = api.client.get("/api/v1/cdrs/").json()["results"]
    # then only acme's rows come back
    assert [c["id"] for c in callbacks] == [str(ours.correlation_id)]
    assert [(c["enterprise"], c["callback_id"]) for c in cdrs] == [("acme", str(ours.correlation_id))]
    assert api.client.get("/api/v1/enterprises/").json() == [
        {"slug": "acme", "name": "Enterprise acme", "status": "active", "time_zone": "Asia/Shanghai"}
    ]


def test_an_operator_key_reads_any_enterprise_it_names(
    operator_api: KeyedClient, enterprise: Enterprise, other_enterprise: Enterprise
) -> None:
    # given a request in globex
    theirs = _request_of(other_enterprise)
    # when the operator key names globex
    listed = operator_api.client.get("/api/v1/callbacks/?enterprise=globex")
    read = operator_api.client.get(f"/api/v1/callbacks/{theirs.correlation_id}/?enterprise=globex")
    unnamed = operator_api.client.get("/api/v1/callbacks/")
    # then it reads it, and must always say which enterprise
    assert [c["id"] for c in listed.json()["results"]] == [str(theirs.correlation_id)]
    assert read.json()["enterprise"] == "globex"
    assert (unnamed.status_code, unnamed.json()["code"]) == (400, "enterprise_required")
    assert [e["slug"] for e in operator_api.client.get("/api/v1/enterprises/").json()] == ["acme", "globex"]
    # and reading through the wrong enterprise finds nothing
    wrong = operator_api.client.get(f"/api/v1/callbacks/{theirs.correlation_id}/?enterprise=acme")
    assert wrong.status_code == 404


def test_an_operator_key_changes_nothing(operator_api: KeyedClient, other_enterprise: Enterprise) -> None:
    # given a waiting request of globex
    theirs = _request_of(other_enterprise)
    # when the operator key tries to create and cancel
    created = operator_api.client.post(
        "/api/v1/callbacks/?enterprise=globex", {"visitor_number": "+8613900001006"}, format="json"
    )
    cancelled = operator_api.client.post(f"/api/v1/callbacks/{theirs.correlation_id}/cancel/?enterprise=globex")
    # then both are refused and nothing changed
    assert (created.status_code, created.json()["code"]) == (403, "operator_key_read_only")
    assert (cancelled.status_code, cancelled.json()["code"]) == (403, "operator_key_read_only")
    assert CallbackRequest.objects.count() == 1
    theirs.refresh_from_db()
    assert theirs.status == "accepted"


def test_ids_that_are_not_ids_are_404_not_500(api: KeyedClient) -> None:
    for path in ("/api/v1/callbacks/not-a-uuid/", "/api/v1/cdrs/abc/", "/api/v1/cdrs/99999999999999999999999/"):
        response = api.client.get(path)
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
