"""``Authorization: Bearer <API key>``: the only way into /api/v1/ (no sessions, so no CSRF to think about)."""

from dataclasses import dataclass

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from integrations.models import ApiKey
from integrations.services import api_keys
from tenants.models import Enterprise


@dataclass(frozen=True)
class ApiPrincipal:
    """What ``request.user`` is on the API: the key, not a person."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def enterprise(self) -> Enterprise | None:
        return self.api_key.enterprise

    @property
    def is_operator(self) -> bool:
        return self.api_key.scope == ApiKey.Scope.OPERATOR


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiKey] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send exactly one API key after Bearer."), code="invalid_api_key")
        try:
            presented = header[1].decode("ascii")
        except UnicodeDecodeError:
            presented = ""
        api_key = api_keys.api_key_authenticate(presented=presented)
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("This API key is unknown or revoked."), code="invalid_api_key")
        return ApiPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="huibo-api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "integrations.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from the enterprise portal (Integrations → API keys).",
        }
