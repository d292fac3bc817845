"""The OpenAPI schema at /api/v1/schema/, and a bounded schemathesis run against it that finds no server error.

Each operation gets a handful of generated requests (valid and invalid bodies, odd ids, odd query strings)
with a real API key of the tenant; every answer must be below 500, with a documented status code and a
body that matches its documented schema.
"""

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from integrations.tests.conftest import KeyedClient

pytestmark = pytest.mark.django_db


def _in_test_transaction(application: Any) -> Any:
    """The WSGI app as Django's test client runs it: without closing the test's database connection (and with
    it the transaction that keeps each test's rows apart) at the end of every request."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            return list(application(environ, start_response))
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

    return app


@pytest.fixture
def api_schema(db: None) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", _in_test_transaction(get_wsgi_application()))


def test_the_schema_documents_every_operation_at_a_stable_url(db: None) -> None:
    response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    for listing in ("/api/v1/callbacks/", "/api/v1/cdrs/", "/api/v1/invoices/"):
        names = {parameter["name"] for parameter in document["paths"][listing]["get"]["parameters"]}
        assert {"limit", "cursor"} <= names, listing
    assert operations == {
        "callbacks_list",
        "callbacks_create",
        "callbacks_retrieve",
        "callbacks_cancel",
        "cdrs_list",
        "cdrs_retrieve",
        "invoices_list",
        "balance_retrieve",
        "enterprises_list",
    }
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from the enterprise portal (Integrations → API keys).",
    }


def test_the_browsable_docs_are_served_without_a_cdn(db: None) -> None:
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn.jsdelivr.net" not in response.content


def test_no_generated_request_makes_a_server_error(api_schema: Any, api: KeyedClient, settings: Any) -> None:
    settings.API_RATE_LIMIT_PER_MINUTE = 10_000
    headers = {"Authorization": f"Bearer {api.secret}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
            )

        call()


def test_a_create_that_is_not_json_gets_the_documented_415(api: KeyedClient) -> None:
    response = api.client.post("/api/v1/callbacks/", "visitor_number=+8613900001005", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    document = Client().get("/api/v1/schema/?format=json").json()
    documented = document["paths"]["/api/v1/callbacks/"]["post"]["responses"]
    assert {"415", "503"} <= set(documented)
