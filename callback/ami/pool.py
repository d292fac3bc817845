"""``BlockingAmiPool``: AMI from synchronous code (Celery tasks) without a login per task.

One pool per process owns one daemon thread running an asyncio loop, and on it one ``AmiClient(events=False)`` per
Asterisk node, created on first use and kept logged in (keep-alive, reconnect with backoff) for the life of the
process. A task then sends its Originate over a warm link in a few milliseconds::

    pool = get_default_pool()
    response = pool.originate(node.key, node.host, node.port, node.username, node.secret, request, timeout=5.0)

Every call blocks for at most ``timeout`` (plus a 1 s grace for the hand-over between threads) and raises the
same exceptions as ``AmiClient`` (``OriginateOutcomeUnknown`` for an Originate whose fate is unknown: never
re-send it blindly). An Originate is never re-sent by the pool either.

Fork safety (Celery prefork): a forked child does not inherit the loop thread, only copies of its objects. The
pool notices the new pid (``os.register_at_fork`` and a pid check on every call), drops the parent's loop, thread
and clients without touching them, and builds its own lazily. The parent's sockets are never written to from the
child.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections.abc import Coroutine
from concurrent.futures import Future as ConcurrentFuture
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._log import log_event
from .actions import Action, OriginateRequest
from .client import AmiClient
from .errors import AmiActionTimeout, OriginateOutcomeUnknown
from .message import AmiMessage

T = TypeVar("T")

# Time allowed on top of the caller's timeout for the hop to the loop thread and back; the inner timeout fires
# first in every normal case, this only catches a wedged loop thread.
HANDOVER_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class _NodeConfig:
    host: str
    port: int
    username: str
    secret: str = field(repr=False)


class BlockingAmiPool:
    """Process-wide AMI links for synchronous callers; see the module docstring."""

    def __init__(
        self,
        *,
        action_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 5.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        refused_retry_cap: float = 2.0,
    ) -> None:
        self._client_options: dict[str, Any] = {
            "action_timeout": action_timeout,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "backoff_base": backoff_base,
            "backoff_cap": backoff_cap,
            "refused_retry_cap": refused_retry_cap,
        }
        self.action_timeout = action_timeout
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Only read or written on the loop thread.
        self._clients: dict[str, tuple[_NodeConfig, AmiClient]] = {}
        _register_after_fork(self)

    # -- public, blocking --------------------------------------------------------------------------------------

    def originate(
        self,
        node_key: str,
        host: str,
        port: int,
        username: str,
        secret: str,
        request: OriginateRequest,
        timeout: float | None = None,
    ) -> AmiMessage:
        """Send ``request`` on the node's shared link; return the "successfully queued" response.

        Raises ``OriginateRejected``, ``AmiNotConnected`` (not sent) or ``OriginateOutcomeUnknown`` (see
        ``AmiClient.originate``).
        """
        budget = self.action_timeout if timeout is None else timeout
        config = _NodeConfig(host, port, username, secret)
        try:
            return self._run(self._originate(node_key, config, request, budget), budget)
        except TimeoutError:
            raise OriginateOutcomeUnknown(
                action_id=request.action_id, cause="timeout", detail="AMI pool thread did not answer in time"
            ) from None

    def send_action(
        self,
        node_key: str,
        host: str,
        port: int,
        username: str,
        secret: str,
        action: Action,
        timeout: float | None = None,
    ) -> AmiMessage:
        """``AmiClient.send_action`` on the node's shared link, from synchronous code."""
        budget = self.action_timeout if timeout is None else timeout
        config = _NodeConfig(host, port, username, secret)
        try:
            return self._run(self._send_action(node_key, config, action, budget), budget)
        except TimeoutError:
            raise AmiActionTimeout(action=str(action.get("Action")), action_id="", timeout=budget) from None

    def warm(self, node_key: str, host: str, port: int, username: str, secret: str) -> None:
        """Start the node's link now (e.g. from Celery's ``worker_process_init``) without waiting for it."""
        config = _NodeConfig(host, port, username, secret)
        self._submit(self._client_for(node_key, config))

    def is_connected(self, node_key: str) -> bool:
        """Whether the node's link is logged in right now (False if never used in this process); a snapshot."""
        entry = self._clients.get(node_key)
        return entry is not None and entry[1].connected

    def close(self, timeout: float = 5.0) -> None:
        """Log off every node and stop the loop thread. The pool can be used again afterwards (it restarts)."""
        with self._lock:
            self._check_fork()
            loop, thread = self._loop, self._thread
            self._loop = None
            self._thread = None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close_clients(), loop).result(timeout)
        except Exception:
            log_event(logging.WARNING, "ami.pool.close_failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()

    # -- plumbing ----------------------------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], budget: float) -> T:
        future = self._submit(coro)
        try:
            return future.result(budget + HANDOVER_GRACE_SECONDS)
        except TimeoutError:
            future.cancel()
            raise

    def _submit(self, coro: Coroutine[Any, Any, T]) -> ConcurrentFuture[T]:
        loop = self._ensure_loop()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("BlockingAmiPool called from its own loop thread: use AmiClient there")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            self._check_fork()
            loop = self._loop
            if loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_run_loop, args=(loop,), name="ami-pool", daemon=True)
                thread.start()
                self._loop, self._thread, self._clients = loop, thread, {}
                log_event(logging.INFO, "ami.pool.started", pid=self._pid)
            return loop

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            self._forget_parent_state()

    def _forget_parent_state(self) -> None:
        """In a forked child: the parent's loop thread does not exist here. Drop, never touch, its objects."""
        parent_pid, self._pid = self._pid, os.getpid()
        had_loop = self._loop is not None
        self._lock = threading.Lock()  # the parent may have held it while forking
        self._loop = None
        self._thread = None
        self._clients = {}
        if had_loop:
            log_event(logging.INFO, "ami.pool.fork_detected", parent_pid=parent_pid, pid=self._pid)

    async def _client_for(self, node_key: str, config: _NodeConfig) -> AmiClient:
        entry = self._clients.get(node_key)
        if entry is not None:
            known, client = entry
            if known == config and not client.closed:
                return client
            # Address or credentials changed: the old link goes, a new one comes (never both for one key).
            log_event(logging.INFO, "ami.pool.node_reconfigured", node=node_key)
            asyncio.get_running_loop().create_task(client.close())
        client = AmiClient(
            config.host,
            config.port,
            config.username,
            config.secret,
            events=False,
            name=node_key,
            **self._client_options,
        )
        self._clients[node_key] = (config, client)
        await client.start()
        return client

    async def _originate(
        self, node_key: str, config: _NodeConfig, request: OriginateRequest, budget: float
    ) -> AmiMessage:
        client = await self._client_for(node_key, config)
        return await client.originate(request, timeout=budget)

    async def _send_action(self, node_key: str, config: _NodeConfig, action: Action, budget: float) -> AmiMessage:
        client = await self._client_for(node_key, config)
        return await client.send_action(action, timeout=budget)

    async def _close_clients(self) -> None:
        clients, self._clients = self._clients, {}
        await asyncio.gather(*(client.close() for _, client in clients.values()), return_exceptions=True)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


def _register_after_fork(pool: BlockingAmiPool) -> None:
    # A weak reference: registering must not keep every pool ever created alive.
    ref = weakref.ref(pool)

    def after_in_child() -> None:
        target = ref()
        if target is not None:
            target._forget_parent_state()

    os.register_at_fork(after_in_child=after_in_child)


_default_pool: BlockingAmiPool | None = None
_default_lock = threading.Lock()


def get_default_pool() -> BlockingAmiPool:
    """The process-wide pool (created on first use, with default timeouts)."""
    global _default_pool
    with _default_lock:
        if _default_pool is None:
            _default_pool = BlockingAmiPool()
        return _default_pool


def _reset_default_lock() -> None:
    global _default_lock
    _default_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_default_lock)
