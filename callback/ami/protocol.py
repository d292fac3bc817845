"""One AMI TCP connection: framing, reply correlation, and nothing that outlives the connection.

``AmiProtocol`` subclasses panoramisk's ``AMIProtocol`` and replaces each method that carries one of its hazards
(RELIABILITY.md, "panoramisk 1.4: hazards"):

- ``send`` registers the action in a table owned by *this* connection. ``connection_lost`` fails every entry with
  ``AmiConnectionLost`` and forgets it. There is no "awaiting actions" queue to re-send after a reconnect, so an
  Originate can never be written twice (hazard 1) and no future is left pending (hazard 2).
- ``data_received`` feeds bytes to ``AmiParser`` (byte-safe, skips malformed messages: hazards 5 and 6) and
  isolates every handler call, so an exception in a callback is logged and never reaches asyncio, which would close
  the transport.
- A reply is complete on its ``Response:`` message, except for an EventList action (collects until
  ``EventList: Complete``). panoramisk treated "Originate successfully queued" as the start of a list and waited
  for more, forever (hazard 2).

Lifecycle: ``connection_made`` -> any number of ``send`` / ``data_received`` -> ``connection_lost`` (or ``abort``),
after which ``lost`` is done with the reason and every pending future has failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from panoramisk.ami_protocol import AMIProtocol

from ._log import log_event
from .actions import Action, encode_action
from .errors import AmiConnectionLost, AmiNotConnected
from .message import AmiMessage
from .parser import AmiParser

Reply = tuple[AmiMessage, list[AmiMessage]]
"""The response, and the events of an EventList (empty for a plain action)."""

# R6: Asterisk drops a client that stops reading for writetimeout (100 ms by default). A batch of callbacks slower
# than this is logged, so a slow on_event shows up before Asterisk disconnects us.
SLOW_DISPATCH_SECONDS = 0.05


@dataclass(slots=True)
class _Pending:
    action: str
    future: asyncio.Future[Reply]
    collect_list: bool
    response: AmiMessage | None = None
    items: list[AmiMessage] = field(default_factory=list)


class AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """asyncio protocol for one AMI connection; created by ``AmiClient`` for each connect."""

    def __init__(
        self,
        *,
        on_event: Callable[[AmiMessage], None],
        on_closing: Callable[[], None],
        label: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._on_event = on_event
        self._on_closing = on_closing
        self._label = label
        self._loop = loop
        self._parser = AmiParser()
        self._pending: dict[str, _Pending] = {}
        self._abort_reason: str | None = None
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[str] = loop.create_future()
        self.last_received = loop.time()
        self.closed = False  # panoramisk's attribute name, kept for anything that inspects it
        self.fully_booted: AmiMessage | None = None
        self.shutdown: AmiMessage | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.last_received = self._loop.time()

    def data_received(self, data: bytes) -> None:
        self.last_received = self._loop.time()
        started = time.perf_counter()
        messages = self._parser.feed(data)
        for message in messages:
            try:
                self._handle(message)
            except Exception:
                # R9: whatever a handler does, the link stays up and the next message is processed.
                log_event(logging.ERROR, "ami.dispatch.failed", node=self._label, name=message.name, exc_info=True)
        elapsed = time.perf_counter() - started
        if elapsed > SLOW_DISPATCH_SECONDS:
            log_event(
                logging.WARNING, "ami.dispatch.slow", node=self._label, messages=len(messages), ms=round(elapsed * 1e3)
            )

    def eof_received(self) -> bool | None:
        return None  # let asyncio close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self._abort_reason or (f"{type(exc).__name__}: {exc}" if exc else "closed by peer")
        if self.shutdown is not None:
            reason = f"asterisk shutdown ({self.shutdown.get('Shutdown')}, restart={self.shutdown.get('Restart')})"
        self.closed = True
        self._on_closing()
        self._fail_pending(reason)
        if not self.lost.done():
            self.lost.set_result(reason)

    # -- sending -----------------------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.closed and not self.transport.is_closing()

    @property
    def banner(self) -> str | None:
        """The banner line (``Asterisk Call Manager/11.0.0``) once received."""
        return self._parser.banner

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def send(self, data: Action, as_list: bool = False) -> asyncio.Future[Reply]:
        """Write ``data`` (which must carry ``Action`` and ``ActionID``) and return the future of its reply.

        Same shape as panoramisk's ``send``. Raises ValueError for an action that cannot be rendered safely and
        ``AmiNotConnected`` if the transport is closing; nothing is written then.
        """
        action_id = data["ActionID"]
        action = data["Action"]
        if not isinstance(action_id, str) or not isinstance(action, str):
            raise ValueError("an action needs string Action and ActionID headers")
        return self.send_encoded(action_id, action, encode_action(data), collect_list=as_list)

    def send_encoded(self, action_id: str, action: str, payload: bytes, *, collect_list: bool) -> asyncio.Future[Reply]:
        """``send`` for an action already rendered by ``encode_action`` (the client renders before connecting)."""
        if not self.is_open:
            raise AmiNotConnected(f"{action} {action_id!r} not sent: AMI link is closing")
        if action_id in self._pending:
            raise ValueError(f"ActionID {action_id!r} is already awaiting a reply on this link")
        future: asyncio.Future[Reply] = self._loop.create_future()
        self._pending[action_id] = _Pending(action=action, future=future, collect_list=collect_list)
        assert self.transport is not None
        self.transport.write(payload)
        return future

    def forget(self, action_id: str) -> None:
        """Drop a pending entry (after a timeout or cancellation); a late reply is then logged, not delivered."""
        self._pending.pop(action_id, None)

    def abort(self, reason: str) -> None:
        """Close at once, without flushing: a dead peer may never drain the write buffer."""
        if self._abort_reason is None:
            self._abort_reason = reason
        self._on_closing()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()
        elif self.transport is None:
            self.connection_lost(None)

    def close(self) -> None:
        """Graceful close (flushes what was written, e.g. a Logoff)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # -- receiving ---------------------------------------------------------------------------------------------

    def _handle(self, message: AmiMessage) -> None:
        fields = message.fields
        action_id = fields.get("ActionID")
        if message.kind == "response":
            pending = None if action_id is None else self._pending.get(action_id)
            if action_id is None or pending is None:
                # A reply that outlived its timeout: worth seeing, especially for an Originate.
                log_event(
                    logging.WARNING,
                    "ami.response.unmatched",
                    node=self._label,
                    action_id=action_id,
                    response=message.name,
                    text=fields.get("Message"),
                )
                return
            if pending.collect_list and message.name == "Success" and fields.get("EventList", "").lower() == "start":
                pending.response = message
                return
            self._finish(action_id, pending, message, [])
            return
        if action_id is not None and self._pending:
            pending = self._pending.get(action_id)
            if pending is not None and pending.collect_list and pending.response is not None:
                if fields.get("EventList", "").lower() in ("complete", "cancelled"):
                    self._finish(action_id, pending, pending.response, pending.items)
                else:
                    pending.items.append(message)
                return
        name = message.name
        if name == "FullyBooted":
            self.fully_booted = message
        elif name == "Shutdown":
            self.shutdown = message
        self._on_event(message)

    def _finish(self, action_id: str, pending: _Pending, response: AmiMessage, items: list[AmiMessage]) -> None:
        del self._pending[action_id]
        if not pending.future.done():
            pending.future.set_result((response, items))

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for action_id, entry in pending.items():
            if not entry.future.done():
                entry.future.set_exception(AmiConnectionLost(action=entry.action, action_id=action_id, reason=reason))
