"""drf-spectacular hooks: the public schema documents /api/v1/ only (other DRF views are the widget's)."""

from typing import Any


def only_api_v1(endpoints: list[tuple[str, str, str, Any]], **_kwargs: Any) -> list[tuple[str, str, str, Any]]:
    return [
        endpoint
        for endpoint in endpoints
        if endpoint[0].startswith("/api/v1/") and not endpoint[0].startswith(("/api/v1/schema", "/api/v1/docs"))
    ]
