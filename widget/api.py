"""The widget's public JSON API, version 1 (documented in README.md, "The embeddable widget").

Thin views: resolve the widget from its public key, check the caller's Origin against the tenant's allowed
origins (CORS answers only those), call one service or selector, shape JSON. Errors are always
``{"code", "message", "extra"}`` with the HTTP status of widget.errors.HTTP_STATUS. No cookies, no sessions:
CSRF protection is replaced by the Origin check plus the one-time captcha.

    GET  /widget/<key>.js                               the embeddable script
    GET  /api/widget/v1/<key>/config                    looks, texts, countries, opening times
    POST /api/widget/v1/<key>/captcha                   a new one-time captcha
    GET  /api/widget/v1/captcha/<captcha>.png           its picture (@2x.png: twice the size; .wav: audio)
    POST /api/widget/v1/<key>/requests                  submit: phone, country, captcha_key, captcha_answer, call_at, …
    GET  /api/widget/v1/<key>/requests/<request_id>     the request's status for the visitor
    GET  /api/widget/v1/<key>/requests/<request_id>/events   the same as server-sent events until final
"""

import json
import time
from collections.abc import Callable, Iterator
from functools import lru_cache, wraps
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_http_methods

from huibo.errors import ApplicationError
from widget import abuse, captcha, selectors, services
from widget.errors import Refusal, WidgetRefusal
from widget.numbers import calling_code
from widget.origins import origin_allowed
from widget.store import now_ms

API_VERSION = 1
_MAX_BODY_BYTES = 8 * 1024
ApiView = Callable[..., HttpResponseBase]


def _error(error: ApplicationError, status: int) -> JsonResponse:
    response = JsonResponse(error.as_dict(), status=status)
    # The refused page may read why (so the widget can say so), and nothing else.
    response.origin_refused = error.code == Refusal.ORIGIN_NOT_ALLOWED  # type: ignore[attr-defined]
    return response


def _language(request: HttpRequest, hint: object = None) -> str:
    wanted = hint if isinstance(hint, str) and hint else request.GET.get("lang", "")
    if not wanted:
        wanted = request.headers.get("Accept-Language", "")
    return "zh-hans" if str(wanted).lower().startswith("zh") else "en"


def _visitor(request: HttpRequest) -> abuse.Visitor:
    return abuse.Visitor(
        client_ip=abuse.client_ip_of(request),
        origin=request.headers.get("Origin", ""),
        user_agent=request.headers.get("User-Agent", ""),
    )


def widget_api(*, write: bool, service_checks_origin: bool = False) -> Callable[[ApiView], ApiView]:
    """Resolve ``key`` to the widget, enforce the allowed origins and answer CORS (preflight included).

    A browser always sends Origin on a cross-origin call and on any POST; a GET without Origin is same-origin
    (the portal's preview) or not from a browser, and may read. Writes require an allowed Origin; the submit
    service checks it itself (``service_checks_origin``) so that its refusal is logged and struck like the others.
    """

    def decorate(view: ApiView) -> ApiView:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, key: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
            with translation.override(_language(request)):
                widget = selectors.widget_by_public_key(public_key=key)
                if widget is None or not widget.settings.enabled:
                    unknown = WidgetRefusal(Refusal.UNKNOWN_WIDGET, detail=f"key {key[:40]!r}")
                    if request.method == "POST":  # a page view of an old snippet is not worth a row
                        enterprise = widget.enterprise if widget is not None else None
                        abuse.abuse_log(
                            code=unknown.code, visitor=_visitor(request), enterprise=enterprise, detail=unknown.detail
                        )
                    return _error(unknown, 404)
                origin = request.headers.get("Origin", "")
                allowed = origin_allowed(origin, list(widget.settings.allowed_origins))
                refused = (origin or write) and not allowed
                if refused and (request.method == "OPTIONS" or not service_checks_origin):
                    refusal = WidgetRefusal(Refusal.ORIGIN_NOT_ALLOWED, detail=f"origin {origin[:100]!r}")
                    abuse.abuse_log(
                        code=refusal.code,
                        visitor=_visitor(request),
                        enterprise=widget.enterprise,
                        detail=refusal.detail,
                    )
                    response: HttpResponseBase = _error(refusal, refusal.http_status)
                elif request.method == "OPTIONS":
                    response = HttpResponse(status=204)
                    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                    response["Access-Control-Allow-Headers"] = "Content-Type"
                    response["Access-Control-Max-Age"] = "600"
                else:
                    response = view(request, widget, *args, **kwargs)
                response.setdefault("Content-Language", translation.get_language())
            if origin and (allowed or getattr(response, "origin_refused", False)):
                response["Access-Control-Allow-Origin"] = origin
            response["Vary"] = "Origin, Accept-Language"
            response.setdefault("Cache-Control", "no-store")
            return response

        return wrapped

    return decorate


@require_http_methods(["GET", "OPTIONS"])
@widget_api(write=False)
def config(request: HttpRequest, widget: selectors.Widget) -> HttpResponse:
    now = timezone.now()
    ws = widget.settings
    openings = selectors.next_openings(enterprise=widget.enterprise, at=now)
    open_now = bool(openings) and openings[0].opens_at <= now
    # Closed now: the times the visitor may pick (submitted back as call_at).
    slots = [] if open_now else selectors.call_slots(enterprise=widget.enterprise, at=now)
    policy = widget.number_policy
    body = {
        "version": API_VERSION,
        "name": widget.enterprise.name,
        "language": ws.language,
        "appearance": {"primary_color": ws.primary_color, "text_color": ws.text_color, "position": ws.position},
        "texts": {"title": ws.title, "intro": ws.intro, "button_label": ws.button_label},
        "default_country": policy.default_country,
        "countries": [{"code": code, "calling_code": calling_code(code)} for code in policy.countries],
        "open_now": open_now,
        "time_zone": widget.enterprise.time_zone,
        "next_openings": [{"opens_at": o.opens_at.isoformat(), "closes_at": o.closes_at.isoformat()} for o in openings],
        "call_slots": [slot.isoformat() for slot in slots],
        "captcha": {"audio": captcha.audio_available()},
        "status": {"poll_ms": settings.WIDGET_STATUS_POLL_MS, "sse": settings.WIDGET_SSE_ENABLED},
    }
    return JsonResponse(body)


@require_http_methods(["POST", "OPTIONS"])
@widget_api(write=True)
def captcha_new(request: HttpRequest, widget: selectors.Widget) -> HttpResponse:
    visitor = _visitor(request)
    try:
        abuse.captcha_issue_admit(client_ip=visitor.client_ip, now_ms=now_ms())
    except WidgetRefusal as refusal:
        abuse.abuse_log(code=refusal.code, visitor=visitor, enterprise=widget.enterprise, detail=refusal.detail)
        abuse.strike(refusal=refusal.refusal, number=None, client_ip=visitor.client_ip, now=timezone.now())
        return _error(refusal, refusal.http_status)
    created = captcha.captcha_create()
    base = request.build_absolute_uri(f"/api/widget/v1/captcha/{created.key}")
    body = {
        "key": created.key,
        "image_url": f"{base}.png",
        "image2x_url": f"{base}@2x.png",
        "audio_url": f"{base}.wav" if captcha.audio_available() else None,
        "expires_in": created.ttl_seconds,
    }
    return JsonResponse(body, status=201)


@require_GET
def captcha_image(request: HttpRequest, captcha_key: str, scale: str = "") -> HttpResponse:
    image = captcha.captcha_image_png(captcha_key=captcha_key, scale=2 if scale else 1)
    if image is None:
        return HttpResponse(status=410)
    content, content_type = image
    response = HttpResponse(content, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def captcha_audio(request: HttpRequest, captcha_key: str) -> HttpResponse:
    audio = captcha.captcha_audio_wav(captcha_key=captcha_key)
    if audio is None:
        return HttpResponse(status=410)
    response = HttpResponse(audio, content_type="audio/wav")
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["POST", "OPTIONS"])
@widget_api(write=True, service_checks_origin=True)
def submit(request: HttpRequest, widget: selectors.Widget) -> HttpResponse:
    visitor = _visitor(request)
    try:
        if len(request.body) > _MAX_BODY_BYTES:
            raise ValueError("body too large")
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        data = {"__invalid__": True}
    with translation.override(_language(request, data.get("language"))):
        try:
            if "__invalid__" in data:
                refusal = WidgetRefusal(Refusal.INVALID_REQUEST, detail="body is not a JSON object")
                abuse.abuse_log(code=refusal.code, visitor=visitor, enterprise=widget.enterprise, detail=refusal.detail)
                raise refusal
            submission = services.submission_create(widget=widget, data=data, visitor=visitor)
        except WidgetRefusal as refusal:
            refused = _error(refusal, refusal.http_status)
            refused["Content-Language"] = translation.get_language()
            return refused
        status = selectors.visitor_status_of(request=submission.request)
        body = {
            "code": "duplicate" if submission.duplicate else "accepted",
            "duplicate": submission.duplicate,
            **status.as_dict(),
        }
        response = JsonResponse(body, status=200 if submission.duplicate else 201)
        response["Content-Language"] = translation.get_language()
    return response


def _status_or_404(widget: selectors.Widget, request_id: str) -> selectors.VisitorStatus | None:
    return selectors.visitor_status(widget=widget, public_id=request_id)


@require_http_methods(["GET", "OPTIONS"])
@widget_api(write=False)
def request_status(request: HttpRequest, widget: selectors.Widget, request_id: str) -> HttpResponse:
    status = _status_or_404(widget, request_id)
    if status is None:
        return JsonResponse({"code": "not_found", "message": "", "extra": {}}, status=404)
    return JsonResponse(status.as_dict())


@require_http_methods(["GET", "OPTIONS"])
@widget_api(write=False)
def request_events(request: HttpRequest, widget: selectors.Widget, request_id: str) -> HttpResponseBase:
    """Server-sent events: one ``status`` event per change, until the request is final or the stream's time is up
    (the browser's EventSource then reconnects by itself)."""
    first = _status_or_404(widget, request_id)
    if first is None:
        return JsonResponse({"code": "not_found", "message": "", "extra": {}}, status=404)
    language = translation.get_language()

    def stream() -> Iterator[str]:
        yield f"retry: {settings.WIDGET_STATUS_POLL_MS}\n\n"
        last: dict[str, object] | None = None
        deadline = time.monotonic() + settings.WIDGET_SSE_MAX_SECONDS
        status: selectors.VisitorStatus | None = first
        with translation.override(language):
            while status is not None:
                current = status.as_dict()
                if current != last:
                    yield f"event: status\ndata: {json.dumps(current)}\n\n"
                    last = current
                if status.final or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
                status = _status_or_404(widget, request_id)

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["X-Accel-Buffering"] = "no"
    return response


@lru_cache(maxsize=1)
def _script_cached() -> bytes:
    return _script_read()


def _script_read() -> bytes:
    path = finders.find("widget/widget.js")
    if not path:
        raise FileNotFoundError("static/widget/widget.js")
    with open(path if isinstance(path, str) else path[0], "rb") as script:
        return script.read()


@require_GET
@gzip_page
def script(request: HttpRequest, key: str) -> HttpResponse:
    """The widget itself; it finds its key and the API's address from its own ``src``."""
    widget = selectors.widget_by_public_key(public_key=key)
    if widget is None:
        return HttpResponse("/* unknown widget */", content_type="text/javascript", status=404)
    body = _script_read() if settings.DEBUG else _script_cached()
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def demo_page(request: HttpRequest, key: str) -> HttpResponse:
    """A page that embeds the snippet, to try the widget on a developer's machine (DEBUG only)."""
    if not settings.DEBUG or selectors.widget_by_public_key(public_key=key) is None:
        return HttpResponse(status=404)
    script_url = request.build_absolute_uri(f"/widget/{key}.js")
    return render(
        request, "widget/demo_page.html", {"script_url": script_url, "origin": request.build_absolute_uri("/")[:-1]}
    )
