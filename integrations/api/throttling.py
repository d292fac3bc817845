"""DRF throttle backed by the atomic per-key limiter (integrations.services.ratelimit)."""

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from integrations import metrics
from integrations.models import ApiKey
from integrations.services.ratelimit import RateDecision, api_key_rate_limit_hit


class ApiKeyRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.decision: RateDecision | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True  # refused by authentication or permission before this matters
        self.decision = api_key_rate_limit_hit(api_key_id=request.auth.pk)
        if not self.decision.allowed:
            metrics.increment(metrics.API_RATE_LIMITED)
        return self.decision.allowed

    def wait(self) -> float | None:
        return float(self.decision.retry_after_seconds) if self.decision else None

    def headers(self) -> dict[str, str]:
        if self.decision is None:
            return {}
        return {
            "X-RateLimit-Limit": str(self.decision.limit),
            "X-RateLimit-Remaining": str(self.decision.remaining),
            "X-RateLimit-Window": "60",
        }
