"""Huibo's AMI layer: panoramisk 1.4 with each of its hazards removed (RELIABILITY.md).

- ``AmiClient``: async, self-healing link for the long-running listener (and anything on an event loop).
- ``BlockingAmiPool`` / ``get_default_pool()``: the same from synchronous code (Celery workers), one warm link
  per node and process, fork-safe.
- ``OriginateRequest``: a validated, injection-proof Originate (``Async: true`` only).
- ``AmiMessage`` / ``AmiParser`` / ``parse_messages``: byte-safe parsing into frozen messages.

Hazard -> where it is handled: re-sent Originate (1) and pending futures (2): ``protocol``; keep-alive (3),
backoff (4): ``client``; split UTF-8 (5) and malformed messages (6): ``parser``.
"""

from .actions import OriginateRequest, encode_action
from .backoff import Backoff
from .client import AmiClient
from .errors import (
    AmiActionError,
    AmiActionTimeout,
    AmiAuthError,
    AmiConnectionLost,
    AmiError,
    AmiNotConnected,
    OriginateOutcomeUnknown,
    OriginateRejected,
)
from .message import AmiMessage
from .parser import AmiParser, benchmark_parser, parse_messages
from .pool import BlockingAmiPool, get_default_pool

__all__ = [
    "AmiActionError",
    "AmiActionTimeout",
    "AmiAuthError",
    "AmiClient",
    "AmiConnectionLost",
    "AmiError",
    "AmiMessage",
    "AmiNotConnected",
    "AmiParser",
    "Backoff",
    "BlockingAmiPool",
    "OriginateOutcomeUnknown",
    "OriginateRejected",
    "OriginateRequest",
    "benchmark_parser",
    "encode_action",
    "get_default_pool",
    "parse_messages",
]
