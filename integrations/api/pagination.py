"""Cursor pagination: stable under inserts (new calls arrive all the time), O(1) per page at any depth."""

from typing import Any

from django.conf import settings
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
        return super().get_page_size(request) or settings.API_PAGE_SIZE


class NewestIdFirstCursor(NewestFirstCursor):
    ordering = ("-id",)


class NewestIssuedFirstCursor(NewestFirstCursor):
    ordering = ("-issued_at", "-id")
