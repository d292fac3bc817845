"""Error codes of the integrations app, and the one error type that also says which HTTP status it is."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from huibo.errors import ApplicationError


class ErrorCode(StrEnum):
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_API_KEY = "invalid_api_key"
    OPERATOR_KEY_READ_ONLY = "operator_key_read_only"
    ENTERPRISE_REQUIRED = "enterprise_required"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    RATE_LIMITER_UNAVAILABLE = "rate_limiter_unavailable"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    NOT_CANCELLABLE = "not_cancellable"
    INVALID_WEBHOOK_URL = "invalid_webhook_url"
    UNKNOWN_WEBHOOK_EVENT = "unknown_webhook_event"
    INVALID = "invalid"


class IntegrationError(ApplicationError):
    """An ApplicationError that carries the HTTP status the API answers it with."""

    def __init__(
        self, code: str, message: str, *, http_status: int = 400, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(code, message, extra=extra)
        self.http_status = http_status
