"""/metrics in Prometheus' text format (integrations.metrics says how the numbers are gathered)."""

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from integrations.metrics import HuiboCollector

_registry = CollectorRegistry(auto_describe=False)
_registry.register(HuiboCollector())


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.INTEGRATIONS_METRICS_TOKEN
    if token:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), token.encode()):
            return HttpResponse("metrics need the bearer token\n", status=401, content_type="text/plain")
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)
