"""The first middleware of every request: its request id, its metrics, and the operations endpoints.

Placed before Django's own middleware so that
* every log line of the request carries ``request_id`` (taken from ``X-Request-ID`` or made here, and sent
  back in the response);
* /healthz, /readyz and /metrics answer probes and scrapers that address the server by IP or service name,
  before CommonMiddleware would refuse a Host that is not in ALLOWED_HOSTS;
* the latency histogram covers the whole of Django.
"""

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from integrations import health, logs, metrics, metrics_view

logger = logging.getLogger(__name__)

OPERATIONS = {"/healthz": health.healthz, "/readyz": health.readyz, "/metrics": metrics_view.metrics}


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = logs.accept_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id  # type: ignore[attr-defined]
        token = logs.bind_request_id(request_id)
        started = time.perf_counter()
        try:
            operation = OPERATIONS.get(request.path_info)
            if operation is not None and request.method in ("GET", "HEAD"):
                response = operation(request)
                route = request.path_info
            else:
                response = self.get_response(request)
                match = getattr(request, "resolver_match", None)
                route = "/" + match.route if match is not None and match.route else "<unmatched>"
            response["X-Request-ID"] = request_id
            if route != "/metrics":
                metrics.record_http_request(
                    method=request.method or "",
                    route=route,
                    status=response.status_code,
                    seconds=time.perf_counter() - started,
                )
            return response
        finally:
            logs.unbind_request_id(token)
