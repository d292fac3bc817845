"""Structured log lines for the AMI layer.

Every line starts with a dotted event name (``ami.link.lost``) followed by ``key=value`` pairs, so it reads well
through the project's plain formatter, and the same fields travel in ``extra`` (``event`` and ``ami``) for a
structured handler. Secrets are never passed here.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("callback.ami")


def log_event(level: int, event: str, /, *, exc_info: bool = False, **fields: Any) -> None:
    """Log ``event`` with ``fields``; the message text is built only when the level is enabled."""
    if not logger.isEnabledFor(level):
        return
    text = event + "".join(f" {key}={value!s}" for key, value in fields.items())
    logger.log(level, text, exc_info=exc_info, extra={"event": event, "ami": fields})
