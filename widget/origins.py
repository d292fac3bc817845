"""Allowed origins: the websites that may embed an enterprise's widget and call its public API.

Origins are compared in the browser's own serialisation (``scheme://host[:port]``, lower case, default port
left out). ``https://*.example.com`` allows every subdomain of example.com but not example.com itself.
"""

from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from huibo.errors import ApplicationError

_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidOrigin(ApplicationError):
    def __init__(self, value: str) -> None:
        super().__init__(
            "invalid_origin",
            _("“%(value)s” is not a website address such as https://www.example.com.") % {"value": value},
        )


def origin_normalize(value: str) -> str:
    """``https://WWW.Example.com:443/path`` -> ``https://www.example.com``; InvalidOrigin for anything else."""
    text = value.strip()
    try:
        parts = urlsplit(text if "://" in text else f"https://{text}")
        port = parts.port
    except ValueError as error:
        raise InvalidOrigin(value) from error
    host = (parts.hostname or "").lower()
    if parts.scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        raise InvalidOrigin(value)
    wildcard = host.startswith("*.")
    labels = host[2:] if wildcard else host
    if not labels or any(not label or not all(c.isalnum() or c in "-_" for c in label) for label in labels.split(".")):
        if not (labels.startswith("[") and labels.endswith("]")):  # an IPv6 literal
            raise InvalidOrigin(value)
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}:{port}"
    return f"{parts.scheme}://{host}"


def origin_allowed(origin: str, allowed: list[str]) -> bool:
    """Whether a request's Origin header names one of the ``allowed`` (normalised) origins."""
    if not origin or origin == "null":
        return False
    try:
        candidate = origin_normalize(origin)
    except InvalidOrigin:
        return False
    if "*" in candidate:
        return False
    for entry in allowed:
        if entry == candidate:
            return True
        scheme, _sep, host = entry.partition("://*.")
        if _sep and candidate.startswith(f"{scheme}://") and candidate.split("://", 1)[1].endswith(f".{host}"):
            return True
    return False
