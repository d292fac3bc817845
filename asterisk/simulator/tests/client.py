"""A minimal async AMI client for the simulator's own tests (Huibo's real client lives in callback/ami)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from asterisk.simulator.protocol import BANNER, encode
from asterisk.simulator.transcript import parse_fields

Message = dict[str, str]


@dataclass
class AmiClient:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    banner: bytes = b""
    messages: list[Message] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    _cursor: int = 0

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> AmiClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        client.banner = await reader.readline()
        assert client.banner == BANNER
        return client

    async def send(self, **fields: str) -> None:
        await self.send_pairs(list(fields.items()))

    async def send_pairs(self, pairs: list[tuple[str, str]]) -> None:
        """For actions that repeat a header (several ``Variable`` lines)."""
        self.writer.write(encode(pairs))
        await self.writer.drain()

    async def login(
        self, username: str = "huibo", secret: str = "huibo-demo-secret", events: str | None = None
    ) -> Message:
        extra = {"Events": events} if events is not None else {}
        await self.send(Action="Login", ActionID="login", Username=username, Secret=secret, **extra)
        return await self.wait_for(lambda m: m.get("ActionID") == "login")

    async def read_message(self, timeout: float = 5.0) -> Message | None:
        """The next message, or None at EOF."""
        try:
            raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        except asyncio.IncompleteReadError:
            return None
        self.raw.append(raw)
        message = dict(parse_fields(raw))
        self.messages.append(message)
        return message

    async def wait_for(self, predicate: Callable[[Message], bool], timeout: float = 5.0) -> Message:
        """The first message (from those not yet waited past) matching ``predicate``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while self._cursor < len(self.messages):
                message = self.messages[self._cursor]
                self._cursor += 1
                if predicate(message):
                    return message
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no matching AMI message")
            if await self.read_message(remaining) is None:
                raise ConnectionError("EOF before a matching AMI message")

    async def event(self, name: str, timeout: float = 5.0, **match: str) -> Message:
        return await self.wait_for(
            lambda m: m.get("Event") == name and all(m.get(k) == v for k, v in match.items()), timeout
        )

    async def response(self, action_id: str, timeout: float = 5.0) -> Message:
        return await self.wait_for(lambda m: m.get("ActionID") == action_id and "Response" in m, timeout)

    async def until_eof(self, timeout: float = 5.0) -> None:
        while await self.read_message(timeout) is not None:
            pass

    async def closed(self, timeout: float = 5.0) -> bool:
        """True once the server closes the connection (EOF or reset)."""
        try:
            await asyncio.wait_for(self.until_eof(timeout), timeout)
        except (ConnectionError, OSError):
            return True
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.writer.close()


def originate(
    action_id: str,
    first: str,
    second: str,
    variables: dict[str, str] | None = None,
    first_context: str = "huibo-outbound",
    **extra: str,
) -> list[tuple[str, str]]:
    """The Originate Huibo's engine sends: ring ``first`` via [huibo-outbound], then [huibo-callback] dials
    ``second`` (digits, no '+'). A ring group is ``first="s"``, ``first_context="huibo-ringall"`` and the
    members' digits in ``HUIBO_RING_GROUP``."""
    pairs = [
        ("Action", "Originate"),
        ("ActionID", action_id),
        ("Channel", f"Local/{first}@{first_context}"),
        ("Context", "huibo-callback"),
        ("Exten", second),
        ("Priority", "1"),
        ("Timeout", "30000"),
        ("CallerID", f'"Huibo 1" <{second}>'),
    ]
    for name, value in (variables or {}).items():
        pairs.append(("Variable", f"{name}={value}"))
    pairs += list(extra.items())
    pairs.append(("Async", "true"))
    return pairs
