"""Idempotency keys on creates: a retry with the same key and body gets the first response back.

How it is safe under concurrency: the record is inserted in the same transaction as the create it
protects. A second request with the same key blocks on the unique index until the first commits, then
fails its insert, reads the committed record and replays it. Only successful responses are kept: a refused
create changed nothing, so doing it again is the right answer to a retry. Records expire after
``API_IDEMPOTENCY_TTL_HOURS``.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.errors import ErrorCode, IntegrationError
from integrations.models import IdempotencyRecord
from tenants.models import Enterprise

_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def request_fingerprint(*, operation: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{operation}\n{canonical}".encode()).hexdigest()


def validate_idempotency_key(key: str) -> str:
    if not _KEY_PATTERN.match(key):
        raise IntegrationError(
            ErrorCode.INVALID_IDEMPOTENCY_KEY,
            _("The Idempotency-Key header must be 1 to 255 printable ASCII characters without spaces."),
        )
    return key


def idempotent_call(
    *,
    enterprise: Enterprise,
    key: str,
    fingerprint: str,
    call: Callable[[], StoredResponse],
    now: datetime | None = None,
) -> StoredResponse:
    """Run ``call`` once per (enterprise, key); replay its response, or refuse (409) a different body."""
    now = now or timezone.now()
    validate_idempotency_key(key)
    # An expired record is gone for good: the key is free again.
    IdempotencyRecord.objects.filter(enterprise=enterprise, key=key, created_at__lt=_expiry(now)).delete()
    existing = IdempotencyRecord.objects.filter(enterprise=enterprise, key=key).first()
    if existing is not None:
        return _replay(existing, fingerprint)
    try:
        with transaction.atomic():
            response = call()
            if 200 <= response.status < 300:
                with transaction.atomic():
                    IdempotencyRecord.objects.create(
                        enterprise=enterprise,
                        key=key,
                        fingerprint=fingerprint,
                        response_status=response.status,
                        response_body=response.body,
                    )
    except IntegrityError:
        # Someone else created with this key while we ran; our create was rolled back with the failed insert.
        existing = IdempotencyRecord.objects.filter(enterprise=enterprise, key=key).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    return response


def _replay(record: IdempotencyRecord, fingerprint: str) -> StoredResponse:
    if record.fingerprint != fingerprint:
        raise IntegrationError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            _("This Idempotency-Key was already used with a different request body."),
            http_status=409,
        )
    return StoredResponse(status=record.response_status, body=record.response_body, replayed=True)


def _expiry(now: datetime) -> datetime:
    return now - timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS)


def idempotency_records_purge(*, now: datetime | None = None) -> int:
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=_expiry(now or timezone.now())).delete()
    return deleted
