"""The one domain error every service raises.

Views, API handlers and commands turn it into a message or a
``{"code", "message", "extra"}`` body; nothing else needs to know its shape.
"""

from collections.abc import Mapping
from typing import Any


class ApplicationError(Exception):
    """A refusal a user can read: ``code`` is stable for clients, ``message`` is for people."""

    def __init__(self, code: str, message: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = dict(extra or {})

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self.message), "extra": self.extra}
