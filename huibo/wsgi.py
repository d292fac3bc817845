"""WSGI entry point (gunicorn ``huibo.wsgi:application``; runserver through ``WSGI_APPLICATION``).

Requests to the widget's public JSON API (``PUBLIC_API_PATH_PREFIX``) go through a shorter middleware chain,
``PUBLIC_API_MIDDLEWARE``: that API uses no cookies, sessions, users or messages, and its views are CSRF-exempt
(the Origin check and the one-time captcha stand in), so that work would only cost CPU on the submit path.
Everything else goes through ``MIDDLEWARE``.
"""

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huibo.settings")

_site = get_wsgi_application()  # sets Django up first

from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

# The URLconf, and with it every view module, imported now: under gunicorn's --preload once, in the master, and
# not again in each worker on its first request.
_urls = get_resolver().url_patterns


class _PublicApiHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE: point it at the short list while this handler is built
        # (once, at import, before any request is served).
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.PUBLIC_API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


_public_api = _PublicApiHandler()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    handler = _public_api if environ.get("PATH_INFO", "").startswith(settings.PUBLIC_API_PATH_PREFIX) else _site
    return handler(environ, start_response)
