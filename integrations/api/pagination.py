"""Cursor pagination: stable under inserts (new calls arrive all the time), O(1) per page at any depth."""

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class NewestFirstCursor(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size_query_param = "limit"

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        # Read at request time, so a settings override (tests, an operator's environment) applies.
        self.page_size = settings.API_PAGE_SIZE
        self.max_page_size = settings.API_MAX_PAGE_SIZE
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Request) -> int:
        # A limit that is not a whole number of at least 1 is refused, not quietly taken as the default.
        limit = request.query_params.get(self.page_size_query_param)
        if limit is not None and not (limit.isdigit() and int(limit) > 0):
            raise ValidationError({"limit": [_("A whole number of at least 1.")]})
        return super().get_page_size(request) or settings.API_PAGE_SIZE

    def decode_cursor(self, request: Request) -> Any:
        # A cursor not taken from a page's link is bad input (400), not a missing object (DRF's 404).
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": [_("Use a page's next or previous link as it is.")]}) from None


class NewestIdFirstCursor(NewestFirstCursor):
    ordering = ("-id",)


class NewestIssuedFirstCursor(NewestFirstCursor):
    ordering = ("-issued_at", "-id")
