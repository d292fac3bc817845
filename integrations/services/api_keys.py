"""API keys: created, named and revoked by a tenant's admin (or, for operator keys, by the operator).

Lifecycle: ``api_key_create`` returns the only copy of the secret that will ever exist (shown once, stored
as a SHA-256); ``api_key_authenticate`` resolves a presented key on every API request; ``api_key_revoke``
makes it fail from the next request on. Revoked keys stay listed, so a tenant can see what a key was.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.errors import ErrorCode, IntegrationError
from integrations.models import ApiKey
from tenants.models import Enterprise

KEY_SCHEME = "hbk"
# last_used_at is written at most this often per key: a write per request would serialise a busy client.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    secret: str  # the full key, to show once


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *,
    name: str,
    enterprise: Enterprise | None,
    created_by: AbstractBaseUser | None = None,
) -> NewApiKey:
    """Create a key for ``enterprise``, or an operator key (cross-tenant reads) when ``enterprise`` is None."""
    name = name.strip()
    if not name or len(name) > 100:
        raise IntegrationError(ErrorCode.INVALID, _("Give the key a name of at most 100 characters."))
    for _try in range(3):
        prefix = secrets.token_hex(4)
        secret = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    enterprise=enterprise,
                    scope=ApiKey.Scope.ENTERPRISE if enterprise is not None else ApiKey.Scope.OPERATOR,
                    name=name,
                    prefix=prefix,
                    key_hash=_hash(secret),
                    created_by=created_by if created_by is not None and created_by.pk else None,
                )
        except IntegrityError:  # a prefix already taken (1 in 4 billion): draw again
            continue
        return NewApiKey(api_key=api_key, secret=secret)
    raise RuntimeError("could not draw a free API key prefix")


def api_key_revoke(*, api_key: ApiKey, now: datetime | None = None) -> ApiKey:
    """Revoke a key; revoking it again changes nothing."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now or timezone.now())
    api_key.refresh_from_db()
    return api_key


def api_key_authenticate(*, presented: str, now: datetime | None = None) -> ApiKey | None:
    """The active key ``presented`` is, or None. Compares hashes in constant time."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME:
        return None
    api_key = ApiKey.objects.select_related("enterprise").filter(prefix=parts[1], revoked_at__isnull=True).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(presented)):
        return None
    now = now or timezone.now()
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key
