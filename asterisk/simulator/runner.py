"""Ways to run the simulated Asterisk: :class:`Simulator` inside an asyncio program or async test, and
:class:`SimulatorThread` for synchronous code (pytest without an event loop, Django tests, the bench):
it runs its own loop in a daemon thread, and every method is safe to call from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .interleaving import Interleaving
from .pbx import PbxSettings
from .server import AmiServer
from .users import PRODUCTION_READ, PRODUCTION_WRITE, AmiUser, parse_classes

T = TypeVar("T")


def _classes(value: str | Iterable[str]) -> frozenset[str]:
    return parse_classes(value if isinstance(value, str) else ",".join(value))


class Simulator:
    """The simulated Asterisk, for async code::

        async with Simulator(time_scale=0.01) as sim:
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)

    ``port=0`` picks a free port. ``time_scale`` compresses simulated time (0.01: 100x faster).
    ``read``/``write`` are the AMI user's classes; the default is what production's manager.conf grants.
    ``write_timeout``: a client that leaves the socket full for this long (real seconds) is disconnected,
    as Asterisk's ``writetimeout`` (100 ms) does.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = "huibo",
        secret: str = "huibo-demo-secret",
        read: str | Iterable[str] = PRODUCTION_READ,
        write: str | Iterable[str] = PRODUCTION_WRITE,
        extra_users: Iterable[AmiUser] = (),
        time_scale: float = 1.0,
        channelvars: Iterable[str] = ("HUIBO_ATTEMPT",),
        recordings_dir: str | Path | None = None,
        restart_down_seconds: float = 1.5,
        booting_seconds: float = 0.0,
        write_timeout: float | None = 0.1,
        interleaving: Interleaving | None = None,
        keep_history: bool = False,
    ) -> None:
        users = {user: AmiUser(user, secret, read=_classes(read), write=_classes(write))}
        users.update({u.username: u for u in extra_users})
        self.server = AmiServer(
            host=host,
            port=port,
            users=users,
            time_scale=time_scale,
            settings=PbxSettings(
                channelvars=list(channelvars),
                recordings_dir=Path(recordings_dir) if recordings_dir is not None else None,
            ),
            interleaving=interleaving,
            restart_down_seconds=restart_down_seconds,
            booting_seconds=booting_seconds,
            write_timeout=write_timeout,
            keep_history=keep_history,
        )

    @property
    def port(self) -> int:
        return self.server.bound_port

    async def start(self) -> Simulator:
        await self.server.start()
        return self

    async def stop(self) -> None:
        await self.server.stop()

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- faults ---------------------------------------------------------------------------------------

    def drop_connections(self) -> None:
        self.server.drop_connections()

    def go_silent(self) -> None:
        self.server.go_silent()

    def end_silence(self) -> None:
        self.server.end_silence()

    def restart(self) -> None:
        self.server.restart()

    def crash(self, down_seconds: float | None = None) -> None:
        self.server.crash(down_seconds)

    async def wait_until_listening(self) -> None:
        await self.server.listening.wait()

    # -- introspection ---------------------------------------------------------------------------------

    def channels(self) -> list[str]:
        """Names of the live channels, oldest first."""
        return self.server.channel_names()

    @property
    def uptime(self) -> int:
        return self.server.pbx.uptime


class SimulatorThread:
    """The simulated Asterisk on its own thread, for synchronous tests::

        with SimulatorThread(time_scale=0.01) as sim:
            sock = socket.create_connection(("127.0.0.1", sim.port))
            ...
            sim.restart()

    Takes the same keyword arguments as :class:`Simulator`.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs: dict[str, Any] = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.simulator: Simulator | None = None

    @property
    def port(self) -> int:
        assert self.simulator is not None, "start() first"
        return self.simulator.port

    def start(self, timeout: float = 10.0) -> SimulatorThread:
        self._thread = threading.Thread(target=self._main, name="pbx-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the simulator did not start")
        if self._error is not None:
            raise RuntimeError("the simulator failed to start") from self._error
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def run() -> None:
            self._stopped = asyncio.Event()
            try:
                self.simulator = Simulator(**self._kwargs)
                await self.simulator.start()
            except BaseException as exc:  # reported to start()
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self._stopped.wait()
            await self.simulator.stop()

        try:
            loop.run_until_complete(run())
        finally:
            loop.close()

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the simulator's loop and return its result."""
        assert self._loop is not None

        async def wrapper() -> T:
            return fn()

        future: Future[T] = asyncio.run_coroutine_threadsafe(wrapper(), self._loop)
        return future.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or self._thread is None or self._stopped is None:
            return
        stopped = self._stopped
        self._loop.call_soon_threadsafe(stopped.set)
        self._thread.join(timeout)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- faults and introspection, from any thread -----------------------------------------------------

    def _sim(self) -> Simulator:
        assert self.simulator is not None, "start() first"
        return self.simulator

    def drop_connections(self) -> None:
        self.call(self._sim().drop_connections)

    def go_silent(self) -> None:
        self.call(self._sim().go_silent)

    def end_silence(self) -> None:
        self.call(self._sim().end_silence)

    def restart(self) -> None:
        self.call(self._sim().restart)

    def crash(self, down_seconds: float | None = None) -> None:
        self.call(lambda: self._sim().crash(down_seconds))

    def channels(self) -> list[str]:
        return self.call(self._sim().channels)

    @property
    def uptime(self) -> int:
        return self.call(lambda: self._sim().uptime)

    def wait_until_listening(self, timeout: float = 10.0) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._sim().wait_until_listening(), self._loop).result(timeout)
