"""``AmiClient``: one logged-in AMI link to one Asterisk, kept up until closed.

Lifecycle (one supervisor task per client)::

    start() -> connect -> Login [-> Ping barrier] -> ready -> on_connected(uptime, is_restart)
            -> keep-alive Pings ... link lost -> on_disconnected(reason) -> backoff -> connect -> ...
    close() -> Logoff (best effort) -> link closed -> on_disconnected("client closed")

It replaces panoramisk's ``Manager`` rather than subclassing it: every method of ``Manager`` carries one of the
hazards in RELIABILITY.md (``__init__`` wires the re-send of "awaiting actions" to ``FullyBooted``, hazard 1; its
pinger never checks the reply, hazard 3; its reconnect is a fixed 2 s, hazard 4). The wire work is done by
``AmiProtocol``, a subclass of panoramisk's ``AMIProtocol``.

Guarantees:

- An action is written at most once, on the link that is up when it is sent; when that link drops, the action
  fails at once (``AmiConnectionLost``, or ``OriginateOutcomeUnknown`` for an Originate). Nothing is re-sent after
  a reconnect. An action sent while no link is up waits for the login, within its own timeout, and fails with
  ``AmiNotConnected`` (not written, safe to retry) if none comes.
- Every action has a timeout (``action_timeout`` by default); no future is left pending.
- A Ping every ``ping_interval`` must be answered within ``ping_timeout``, or the link is declared dead, aborted
  and re-established (R3: at most ping_interval + ping_timeout, 10 s with the defaults).
- Reconnects back off exponentially with full jitter, capped at ``backoff_cap``; reset by a successful login.
  While the port refuses connections (Asterisk restarting: AMI accepts again ~1.5 s after ``core restart``) the
  ceiling is ``refused_retry_cap`` instead: a refused SYN costs Asterisk nothing and R3 wants a re-login within
  3 s of Asterisk being back. Failed logins and dropped links use the full cap.

Hooks: ``on_event(message)`` is called synchronously, on the event loop, for every event that is not part of an
action's reply: it must not block (enqueue and return; R6). ``on_connected(fully_booted_uptime, is_restart)`` is
called once per login, as soon as Asterisk is known to be fully booted: right after the login if ``FullyBooted``
came with it, when the ``FullyBooted`` event arrives if the login happened during boot, or at once with
``(None, False)`` when events are off (Asterisk sends no FullyBooted then). ``is_restart`` is True when the new
Uptime shows Asterisk booted again since the previous login of this client (every in-flight call is gone); it is
False on a link blip and on the first login. ``on_disconnected(reason)`` is called once for each
``on_connected``, when that link is gone. Hooks may be plain functions or return an awaitable, which is run as a
task; exceptions in hooks are logged and never break the link.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

from ._log import log_event
from .actions import Action, OriginateRequest, encode_action
from .backoff import Backoff
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
from .protocol import AmiProtocol, Reply

EventHook = Callable[[AmiMessage], None]
ConnectedHook = Callable[[int | None, bool], Awaitable[None] | None]
DisconnectedHook = Callable[[str], Awaitable[None] | None]

# Uptime is whole seconds (truncated) and read a few ms after it was written: two readings of the same boot can
# put the boot time up to ~1 s apart. Anything beyond this margin is a new boot.
RESTART_MARGIN_SECONDS = 2.0
# Sending an action with less budget than this left after waiting for the login would time it out at once, turning
# a clean "not sent" into "outcome unknown" for an Originate.
MIN_SEND_BUDGET_SECONDS = 0.05


class AmiClient:
    """A self-healing AMI connection. Create, ``await start()``, use, ``await close()``. See the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        events: bool = True,
        on_event: EventHook | None = None,
        on_connected: ConnectedHook | None = None,
        on_disconnected: DisconnectedHook | None = None,
        action_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 5.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        refused_retry_cap: float = 2.0,
        connect_timeout: float | None = None,
        boot_timeout: float = 15.0,
        name: str | None = None,
        rng: random.Random | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        for label, value in (
            ("action_timeout", action_timeout),
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("refused_retry_cap", refused_retry_cap),
            ("boot_timeout", boot_timeout),
        ):
            if value <= 0:
                raise ValueError(f"{label} must be > 0")
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.events = events
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.refused_retry_cap = refused_retry_cap
        self.connect_timeout = connect_timeout if connect_timeout is not None else action_timeout
        self.boot_timeout = boot_timeout
        self.label = name or f"{host}:{port}"
        self.backoff = Backoff(base=backoff_base, cap=backoff_cap, rng=rng)
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._loop = loop
        self._ready = asyncio.Event()
        self._closed_event = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._protocol: AmiProtocol | None = None
        self._announced = False
        self._awaiting_boot = False
        self._boot_timer: asyncio.TimerHandle | None = None
        self._boot_mark: float | None = None
        self._last_uptime: int | None = None
        self._last_error: BaseException | None = None
        self._hook_tasks: set[asyncio.Future[None]] = set()
        self._action_ids = itertools.count(1)
        # Unique per client and process, so ActionIDs from two workers never collide in Asterisk's logs.
        self._action_id_prefix = f"huibo-{os.getpid()}-{secrets.token_hex(3)}"
        self.login_count = 0
        """Number of successful logins (on_connected calls) so far."""

    def __repr__(self) -> str:
        return f"<AmiClient {self.label} events={self.events} connected={self.connected}>"

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the supervisor and return at once; the link comes up in the background (``wait_connected``)."""
        if self._closing:
            raise AmiNotConnected(f"AMI client {self.label} is closed")
        if self._task is not None:
            return
        running = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not running:
            raise RuntimeError("AmiClient.start() must run on the loop the client was created for")
        self._loop = running
        self._task = running.create_task(self._supervise(), name=f"ami-client {self.label}")

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until logged in; ``AmiNotConnected`` (chained to the last connect error) after ``timeout``."""
        await self._wait_ready(self.action_timeout if timeout is None else timeout)

    async def close(self) -> None:
        """Log off (best effort), close the link, stop reconnecting. Pending actions fail; idempotent."""
        if self._closing:
            if self._task is not None:
                await asyncio.gather(self._task, return_exceptions=True)
            return
        self._closing = True
        self._closed_event.set()
        protocol = self._protocol
        if protocol is not None and protocol.is_open and self._ready.is_set():
            try:
                await self._request(protocol, {"Action": "Logoff"}, min(1.0, self.action_timeout))
            except AmiError:
                pass  # the link is going away anyway
        if protocol is not None:
            protocol.abort("client closed")
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._hook_tasks):
            task.cancel()
        await asyncio.gather(*self._hook_tasks, return_exceptions=True)

    async def __aenter__(self) -> AmiClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """Logged in right now (actions are written at once)."""
        return self._ready.is_set()

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def pending_actions(self) -> int:
        """Actions written and awaiting their reply on the current link (0 when down: never left pending)."""
        protocol = self._protocol
        return 0 if protocol is None else protocol.pending_count

    @property
    def last_error(self) -> BaseException | None:
        """Why the last connect or login attempt failed (None once logged in)."""
        return self._last_error

    # -- actions -----------------------------------------------------------------------------------------------

    async def send_action(self, action: Action, *, timeout: float | None = None) -> AmiMessage:
        """Send ``action`` and return its response (``Response: Error`` included: check ``.success``).

        ``ActionID`` is generated when absent. Raises ``AmiNotConnected`` (not written), ``AmiConnectionLost``,
        ``AmiActionTimeout``, ValueError (unsafe action, nothing written).
        """
        response, _ = await self._send(action, timeout=timeout, collect_list=False)
        return response

    async def send_action_list(self, action: Action, *, timeout: float | None = None) -> list[AmiMessage]:
        """Send an EventList action (``CoreShowChannels``, ``Status`` ...) and return its item events, in order.

        Collects until the event with ``EventList: Complete``; neither the opening response nor that closing event
        is returned. ``AmiActionError`` if Asterisk refuses the action; otherwise as ``send_action``.
        """
        response, items = await self._send(action, timeout=timeout, collect_list=True)
        if not response.success:
            raise AmiActionError(response)
        return items

    async def originate(self, request: OriginateRequest, *, timeout: float | None = None) -> AmiMessage:
        """Send an asynchronous Originate; return the ``Originate successfully queued`` response.

        The call's outcome comes later as an ``OriginateResponse`` event with the same ActionID (to ``on_event``
        of a client with events on). Raises ``OriginateRejected`` on ``Response: Error`` (no call),
        ``AmiNotConnected`` if it could not be written (no call, safe to retry), and ``OriginateOutcomeUnknown``
        if it was written but no reply came (link lost or timeout): Asterisk may be dialling, never re-send
        blindly, reconcile by ``request.channel_id``.
        """
        try:
            response = await self.send_action(request.as_action(), timeout=timeout)
        except AmiConnectionLost as exc:
            log_event(
                logging.ERROR,
                "ami.originate.outcome_unknown",
                node=self.label,
                action_id=request.action_id,
                cause="connection_lost",
                reason=exc.reason,
            )
            raise OriginateOutcomeUnknown(
                action_id=request.action_id, cause="connection_lost", detail=exc.reason
            ) from exc
        except AmiActionTimeout as exc:
            log_event(
                logging.ERROR,
                "ami.originate.outcome_unknown",
                node=self.label,
                action_id=request.action_id,
                cause="timeout",
                timeout=exc.timeout,
            )
            raise OriginateOutcomeUnknown(action_id=request.action_id, cause="timeout", detail=str(exc)) from exc
        if not response.success:
            log_event(
                logging.WARNING,
                "ami.originate.rejected",
                node=self.label,
                action_id=request.action_id,
                message=response.message,
            )
            raise OriginateRejected(response)
        return response

    async def _send(self, action: Action, *, timeout: float | None, collect_list: bool) -> Reply:
        budget = self.action_timeout if timeout is None else timeout
        if budget <= 0:
            raise ValueError("timeout must be > 0")
        prepared, action_id, name = self._prepare(action)
        payload = encode_action(prepared)  # ValueError before anything is sent or awaited
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        protocol = await self._wait_ready(budget)
        remaining = deadline - loop.time()
        if remaining < MIN_SEND_BUDGET_SECONDS:
            raise AmiNotConnected(f"{name} {action_id!r} not sent: its {budget:g} s went on waiting for the login")
        return await self._request_encoded(protocol, action_id, name, payload, remaining, collect_list)

    def _prepare(self, action: Action) -> tuple[dict[str, str | int | list[str] | tuple[str, ...]], str, str]:
        """Normalise ``Action``/``ActionID`` (any case) to the front; generate an ActionID when absent."""
        name: object = None
        action_id: object = None
        rest: dict[str, str | int | list[str] | tuple[str, ...]] = {}
        for key, value in action.items():
            lowered = key.lower()
            if lowered == "action":
                name = value
            elif lowered == "actionid":
                action_id = value
            else:
                rest[key] = value if isinstance(value, str | int | list | tuple) else list(value)
        if not isinstance(name, str) or not name:
            raise ValueError("an AMI action needs a non-empty 'Action' header")
        if action_id is None:
            action_id = f"{self._action_id_prefix}-{next(self._action_ids)}"
        if not isinstance(action_id, str) or not action_id:
            raise ValueError("ActionID must be a non-empty string")
        return {"Action": name, "ActionID": action_id, **rest}, action_id, name

    async def _wait_ready(self, timeout: float) -> AmiProtocol:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._closing:
                raise AmiNotConnected(f"AMI client {self.label} is closed")
            if self._task is None:
                raise AmiNotConnected(f"AMI client {self.label} is not started")
            if not self._ready.is_set():
                # Slow path only (no link yet): wake on the login or on close(), whichever comes first.
                ready = loop.create_task(self._ready.wait())
                closed = loop.create_task(self._closed_event.wait())
                try:
                    await asyncio.wait(
                        (ready, closed), timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    ready.cancel()
                    closed.cancel()
                if self._closing:
                    continue
                if not self._ready.is_set():
                    cause = self._last_error
                    detail = f": {cause}" if cause is not None else ""
                    raise AmiNotConnected(f"AMI {self.label} not logged in within {timeout:g} s{detail}") from cause
            protocol = self._protocol
            if protocol is not None and protocol.is_open:
                return protocol
            # The link closed a moment ago and the supervisor has not cleared "ready" yet: wait for the next one.
            self._ready.clear()

    async def _request(self, protocol: AmiProtocol, action: Action, timeout: float) -> AmiMessage:
        prepared, action_id, name = self._prepare(action)
        response, _ = await self._request_encoded(
            protocol, action_id, name, encode_action(prepared), timeout, collect_list=False
        )
        return response

    async def _request_encoded(
        self, protocol: AmiProtocol, action_id: str, name: str, payload: bytes, timeout: float, collect_list: bool
    ) -> Reply:
        future = protocol.send_encoded(action_id, name, payload, collect_list=collect_list)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise AmiActionTimeout(action=name, action_id=action_id, timeout=timeout) from None
        finally:
            # Hazard 2: whatever happened (reply, timeout, cancellation), nothing stays registered.
            protocol.forget(action_id)
            if not future.done():
                future.cancel()

    # -- connection supervisor ---------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while not self._closing:
            refused = False
            try:
                await self._run_once()
            except AmiAuthError as exc:
                self._last_error = exc
                log_event(logging.ERROR, "ami.login.failed", node=self.label, user=self.username, reason=exc.message)
            except ConnectionRefusedError as exc:
                refused = True
                self._last_error = exc
                log_event(logging.INFO, "ami.link.connect_failed", node=self.label, reason="refused")
            except (OSError, AmiError) as exc:
                self._last_error = exc
                log_event(logging.WARNING, "ami.link.connect_failed", node=self.label, reason=repr(exc))
            except Exception as exc:  # a bug here must not stop reconnecting forever
                self._last_error = exc
                log_event(logging.ERROR, "ami.link.crashed", node=self.label, exc_info=True)
            if self._closing:
                break
            delay = self.backoff.next_delay(cap=self.refused_retry_cap if refused else None)
            log_event(
                logging.INFO, "ami.link.retry", node=self.label, attempt=self.backoff.attempts, delay_s=round(delay, 3)
            )
            try:
                async with asyncio.timeout(delay):
                    await self._closed_event.wait()
            except TimeoutError:
                pass

    async def _run_once(self) -> None:
        """One connection: connect, log in, serve until the link is lost. Raises if it never got logged in."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, protocol = await loop.create_connection(
                lambda: AmiProtocol(
                    on_event=self._dispatch_event, on_closing=self._ready.clear, label=self.label, loop=loop
                ),
                self.host,
                self.port,
            )
        self._protocol = protocol
        keepalive: asyncio.Task[None] | None = None
        try:
            login = {
                "Action": "Login",
                "Username": self.username,
                "Secret": self._secret,
                "Events": "on" if self.events else "off",
            }
            response = await self._request(protocol, login, self.action_timeout)
            if not response.success:
                raise AmiAuthError(response.message or response.name)
            self.backoff.reset()
            self._last_error = None
            log_event(
                logging.INFO,
                "ami.link.up",
                node=self.label,
                user=self.username,
                events=self.events,
                banner=protocol.banner,
            )
            if self.events:
                # Asterisk appends FullyBooted to the login reply when it is already booted, before it reads our
                # next action: once this Ping is answered we know whether it came (README, "Facts").
                await self._request(protocol, {"Action": "Ping"}, self.action_timeout)
            self._ready.set()
            keepalive = loop.create_task(self._keepalive(protocol), name=f"ami-keepalive {self.label}")
            if not self.events:
                self._announce(None)
            elif protocol.fully_booted is not None:
                self._announce(_uptime(protocol.fully_booted))
            else:
                log_event(logging.INFO, "ami.link.booting", node=self.label)
                self._awaiting_boot = True
                self._boot_timer = loop.call_later(self.boot_timeout, self._boot_timed_out, protocol)
            await asyncio.shield(protocol.lost)
        finally:
            self._ready.clear()
            self._awaiting_boot = False
            if self._boot_timer is not None:
                self._boot_timer.cancel()
                self._boot_timer = None
            if keepalive is not None:
                keepalive.cancel()
            protocol.abort("client closed" if self._closing else "connection attempt abandoned")
            self._protocol = None
            if self._announced:
                self._announced = False
                reason = "client closed" if self._closing else (protocol.lost.result() if protocol.lost.done() else "")
                log_event(
                    logging.WARNING if not self._closing else logging.INFO,
                    "ami.link.lost",
                    node=self.label,
                    reason=reason,
                )
                self._call_hook(self._on_disconnected, reason)

    async def _keepalive(self, protocol: AmiProtocol) -> None:
        """Hazard 3: a Ping that must be answered. No reply (or no byte at all) in time means a dead link."""
        loop = asyncio.get_running_loop()
        while protocol.is_open:
            await asyncio.sleep(self.ping_interval)
            silent = loop.time() - protocol.last_received
            if silent > self.ping_interval + self.ping_timeout:
                log_event(logging.WARNING, "ami.link.dead", node=self.label, reason="silent", silent_s=round(silent, 1))
                protocol.abort(f"nothing received for {silent:.1f} s")
                return
            try:
                await self._request(protocol, {"Action": "Ping"}, self.ping_timeout)
            except AmiActionTimeout:
                log_event(
                    logging.WARNING,
                    "ami.link.dead",
                    node=self.label,
                    reason="ping_timeout",
                    timeout_s=self.ping_timeout,
                )
                protocol.abort(f"no Ping reply within {self.ping_timeout:g} s")
                return
            except AmiError:
                return  # the link is already going; the supervisor handles it

    # -- hooks -------------------------------------------------------------------------------------------------

    def _dispatch_event(self, message: AmiMessage) -> None:
        if self._awaiting_boot and message.name == "FullyBooted":
            self._awaiting_boot = False
            if self._boot_timer is not None:
                self._boot_timer.cancel()
                self._boot_timer = None
            self._announce(_uptime(message))
        if self._on_event is not None:
            self._on_event(message)

    def _boot_timed_out(self, protocol: AmiProtocol) -> None:
        self._boot_timer = None
        if not self._awaiting_boot or protocol is not self._protocol:
            return
        self._awaiting_boot = False
        # Most likely the AMI user lacks read=system (FullyBooted is a system event); carry on without Uptime.
        log_event(logging.WARNING, "ami.link.fully_booted_missing", node=self.label, waited_s=self.boot_timeout)
        self._announce(None)

    def _announce(self, uptime: int | None) -> None:
        is_restart = self._is_restart(uptime)
        self._announced = True
        self.login_count += 1
        log_event(logging.INFO, "ami.link.ready", node=self.label, uptime=uptime, is_restart=is_restart)
        self._call_hook(self._on_connected, uptime, is_restart)

    def _is_restart(self, uptime: int | None) -> bool:
        """Compare boot instants, not raw Uptimes: after a long-lived link a restart can show a larger Uptime than
        the one read at the previous login (connected at Uptime 2, restarted a day later, back at Uptime 3)."""
        if uptime is None:
            return False
        boot_mark = time.monotonic() - uptime
        previous_mark, previous_uptime = self._boot_mark, self._last_uptime
        self._boot_mark, self._last_uptime = boot_mark, uptime
        if previous_mark is None or previous_uptime is None:
            return False
        return uptime < previous_uptime or boot_mark - previous_mark > RESTART_MARGIN_SECONDS

    def _call_hook(self, hook: Callable[..., Awaitable[None] | None] | None, *args: object) -> None:
        if hook is None:
            return
        try:
            result = hook(*args)
        except Exception:
            log_event(
                logging.ERROR, "ami.hook.failed", node=self.label, hook=getattr(hook, "__name__", hook), exc_info=True
            )
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._hook_tasks.add(task)
            task.add_done_callback(self._hook_done)

    def _hook_done(self, task: asyncio.Future[None]) -> None:
        self._hook_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log_event(logging.ERROR, "ami.hook.failed", node=self.label, error=repr(task.exception()))


def _uptime(message: AmiMessage) -> int | None:
    try:
        return int(message.get("Uptime") or "")
    except ValueError:
        return None
