"""Structured logs and the request id that ties one visitor's request together across processes.

* web: integrations.middleware.RequestIdMiddleware takes ``X-Request-ID`` (or makes one), keeps it in a
  context variable for the request and sends it back;
* Celery: the id travels in the task message's headers (``huibo_request_id``); in the worker the log filter
  reads it, and the task id, from the task running on the thread;
* listener: calls are followed by ``CallbackRequest.correlation_id`` (logged as ``correlation_id``).

``LOG_FORMAT=json`` (the default without DEBUG) writes one JSON object per line through python-json-logger
with ``request_id``, ``task_id`` and any ``extra=`` fields; ``plain`` keeps the console format ``make demo``
shows. This module is imported by the LOGGING setting, before apps are ready: it must not import models.
"""

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

REQUEST_ID_HEADER = "huibo_request_id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_request_id: ContextVar[str | None] = ContextVar("huibo_request_id", default=None)


def _celery_request() -> Any:
    """The request of the Celery task running on this thread, if any.

    Read from Celery's own per-thread task stack rather than copied into a context variable: asyncio loops
    and threads started inside a task (the AMI pool) copy context variables and would log the task's ids
    for ever after.
    """
    from celery import current_task

    task = current_task._get_current_object()  # None outside a task
    return task.request if task is not None else None


def _task_request_id(request: Any) -> str | None:
    value = getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER
    )
    return value if isinstance(value, str) else None


def current_request_id() -> str | None:
    """The web request's id, or the id the running Celery task was queued with."""
    request_id = _request_id.get()
    if request_id is None:
        request = _celery_request()
        if request is not None:
            request_id = _task_request_id(request)
    return request_id


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """A caller's id when it is a sane token (it lands in logs and headers), otherwise a new one."""
    return value if value and _VALID_REQUEST_ID.match(value) else new_request_id()


def bind_request_id(value: str | None) -> Any:
    """Set the request id for this context; returns a token for ``unbind_request_id``."""
    return _request_id.set(value)


def unbind_request_id(token: Any) -> None:
    _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` (and ``task_id`` in a Celery task) on every record, so both formats can use them."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = _celery_request()
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or (_task_request_id(task) if task is not None else None)
        if not hasattr(record, "task_id"):
            record.task_id = getattr(task, "id", None) if task is not None else None
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, request id, and every ``extra=`` field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_record, record, message_dict)
        for name in ("request_id", "task_id"):
            if log_record.get(name) is None:
                log_record.pop(name, None)


# --- Celery ----------------------------------------------------------------------------------------------------


def _on_publish(headers: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    """Celery's before_task_publish: a task queued while serving a request (or by a task) carries its id."""
    request_id = current_request_id()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


def connect_celery_request_id() -> None:
    from celery import signals

    signals.before_task_publish.connect(_on_publish, weak=False, dispatch_uid="huibo-request-id-publish")
