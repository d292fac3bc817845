"""Middleware of the project as a whole."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import get_script_prefix, is_valid_path
from django.utils import translation


class BrowserLanguageMiddleware:
    """A reader whose browser prefers Chinese gets the Chinese pages from the first one they open.

    Addresses without a language prefix are English (``prefix_default_language=False``), whatever the browser asks
    for. Until the reader chooses a language in the switcher (which sets the language cookie), a page asked for
    without a prefix is redirected to the address of the language the browser prefers, when we have that page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD") and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
            language = translation.get_language_from_request(request)  # the cookie (none here), then Accept-Language
            path = request.path_info
            if language != settings.LANGUAGE_CODE and translation.get_language_from_path(path) is None:
                with translation.override(language):
                    target = f"/{language}{path}"
                    if is_valid_path(target, getattr(request, "urlconf", None)):
                        query = request.META.get("QUERY_STRING", "")
                        return HttpResponseRedirect(
                            get_script_prefix().rstrip("/") + target + (f"?{query}" if query else "")
                        )
        return self.get_response(request)
