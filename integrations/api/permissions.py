from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from integrations.api.authentication import ApiPrincipal


class HasApiKey(BasePermission):
    """Authenticated by an API key (not a session: the API is for servers)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.user, ApiPrincipal)
