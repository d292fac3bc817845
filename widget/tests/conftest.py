"""Widget test fixtures: an enterprise whose widget may be embedded on https://shop.example.com, a client that
talks to the public API as that page would, and a store key prefix of its own for every test.

Redis (db 15) is shared with other developers' runs: nothing here flushes it; each test writes under its own
prefix and deletes exactly those keys afterwards.
"""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings

from conftest import make_enterprise
from tenants.models import Enterprise
from widget import services
from widget.store import RedisStore, get_store, key

SHOP = "https://shop.example.com"


@pytest.fixture(autouse=True)
def own_store_prefix() -> Iterator[str]:
    """A store prefix of the test's own; and no per-process caching, as tests change settings as they go
    (test_cache.py tests the caches)."""
    prefix = f"test:widget:{uuid.uuid4().hex}:"
    with override_settings(WIDGET_REDIS_KEY_PREFIX=prefix, WIDGET_CACHE_SECONDS=0):
        yield prefix
        store = get_store()
        if isinstance(store, RedisStore):
            keys = list(store.client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                store.client.delete(*keys)


def widget_enterprise(slug: str = "acme", *, origins: tuple[str, ...] = (SHOP,), **fields: Any) -> Enterprise:
    enterprise = make_enterprise(slug, **fields)
    services.widget_settings_update(enterprise=enterprise, allowed_origins=list(origins))
    return enterprise


@pytest.fixture
def shop(db: None) -> Enterprise:
    return widget_enterprise()


def captcha_answer(captcha_key: str) -> str:
    """The right answer, read from the store as only a test can."""
    stored = get_store().peek(key("captcha", captcha_key))
    assert stored is not None
    return str(json.loads(stored)[1])


class WidgetClient:
    """The public API as the widget on a page of ``origin`` calls it, from ``ip``."""

    def __init__(self, enterprise: Enterprise, *, origin: str = SHOP, ip: str = "198.51.100.7") -> None:
        self.client = Client()
        self.enterprise = enterprise
        self.origin = origin
        self.ip = ip

    def _headers(self) -> dict[str, str]:
        headers = {"REMOTE_ADDR": self.ip, "HTTP_USER_AGENT": "Mozilla/5.0 (test)"}
        if self.origin:
            headers["HTTP_ORIGIN"] = self.origin
        return headers

    @property
    def base(self) -> str:
        return f"/api/widget/v1/{self.enterprise.public_key}"

    def config(self) -> Any:
        return self.client.get(f"{self.base}/config", **self._headers())

    def new_captcha(self) -> str:
        response = self.client.post(f"{self.base}/captcha", **self._headers())
        assert response.status_code == 201, response.content
        return str(response.json()["key"])

    def submit_raw(self, body: bytes | str, content_type: str = "text/plain;charset=UTF-8") -> Any:
        return self.client.post(f"{self.base}/requests", data=body, content_type=content_type, **self._headers())

    def submit(
        self, phone: str = "13900001005", *, captcha: str | None = None, answer: str | None = None, **fields: Any
    ):  # type: ignore[no-untyped-def]
        captcha_key = captcha if captcha is not None else self.new_captcha()
        body = {
            "phone": phone,
            "country": fields.pop("country", "CN"),
            "captcha_key": captcha_key,
            "captcha_answer": answer if answer is not None else captcha_answer(captcha_key),
            "website": "",
            "page_url": "https://shop.example.com/pricing?utm_source=baidu&utm_campaign=spring",
            "referrer": "https://www.baidu.com/s?wd=callback",
            "language": "zh-CN",
            **fields,
        }
        return self.submit_raw(json.dumps(body))

    def status(self, request_id: str) -> Any:
        return self.client.get(f"{self.base}/requests/{request_id}", **self._headers())
