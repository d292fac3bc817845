"""Exceptions raised by ``callback.ami``.

The split matters to callers deciding whether a retry is safe:

- ``AmiNotConnected``: the action was never written (no login within the timeout, or the client is closed). Safe
  to retry, even for an Originate.
- ``AmiConnectionLost`` / ``AmiActionTimeout``: the action was written and no complete reply came. For a read-only
  action a retry is fine.
- ``OriginateOutcomeUnknown``: the same two situations for an Originate. Asterisk may be dialling: never re-send
  blindly, reconcile by the ``ChannelId`` fixed in advance (hazard 1 in RELIABILITY.md). It deliberately does not
  subclass the two above, so a generic ``except AmiConnectionLost: retry`` can never re-send an Originate.
- ``AmiActionError`` (``OriginateRejected`` for an Originate): Asterisk answered ``Response: Error``; nothing was
  done.
- ``AmiAuthError``: the login was refused; the client retries it with backoff on its own.
"""

from __future__ import annotations

from typing import Literal

from .message import AmiMessage


class AmiError(Exception):
    """Base class of every error raised by this package."""


class AmiNotConnected(AmiError):
    """The link was not logged in in time, or the client is closed: the action was not written."""


class AmiConnectionLost(AmiError):
    """The link dropped while the action was waiting for its reply (hazard 2: never left pending)."""

    def __init__(self, *, action: str, action_id: str, reason: str) -> None:
        super().__init__(f"AMI link lost while {action} {action_id!r} awaited its reply: {reason}")
        self.action = action
        self.action_id = action_id
        self.reason = reason


class AmiActionTimeout(AmiError):
    """No complete reply within the action's timeout (hazard 2: every action has one)."""

    def __init__(self, *, action: str, action_id: str, timeout: float) -> None:
        super().__init__(f"no reply to {action} {action_id!r} within {timeout:g} s")
        self.action = action
        self.action_id = action_id
        self.timeout = timeout


class AmiAuthError(AmiError):
    """Asterisk refused the Login (``Message: Authentication failed``)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"AMI login refused: {message}")
        self.message = message


class AmiActionError(AmiError):
    """Asterisk answered the action with ``Response: Error``."""

    def __init__(self, response: AmiMessage) -> None:
        self.response = response
        self.message = response.get("Message") or response.name
        super().__init__(self.message)


class OriginateRejected(AmiActionError):
    """Asterisk refused the Originate synchronously (missing context, ChannelId in use, permission): no call."""


class OriginateOutcomeUnknown(AmiError):
    """The Originate was written but its reply never came: the call may or may not be dialling. Reconcile."""

    def __init__(self, *, action_id: str, cause: Literal["connection_lost", "timeout"], detail: str) -> None:
        super().__init__(f"outcome of Originate {action_id!r} unknown ({cause}): {detail}")
        self.action_id = action_id
        self.cause = cause
        self.detail = detail
