"""BlockingAmiPool from plain synchronous code, as a Celery task uses it: warm links, no login per call, fork."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from callback.ami import AmiNotConnected, BlockingAmiPool, OriginateOutcomeUnknown, OriginateRequest

from .fake_ami import ThreadedFakeAmi


@pytest.fixture
def server() -> Iterator[ThreadedFakeAmi]:
    threaded = ThreadedFakeAmi()
    yield threaded
    threaded.close()


@pytest.fixture
def pool() -> Iterator[BlockingAmiPool]:
    blocking = BlockingAmiPool(action_timeout=2.0, ping_interval=0.5, ping_timeout=0.5, refused_retry_cap=0.05)
    yield blocking
    blocking.close()


def request(number: int) -> OriginateRequest:
    return OriginateRequest(
        action_id=f"cb-{number}-orig",
        channel="Local/1100@phones",
        context="callback",
        exten="1005",
        variables={"CALLBACK_ID": str(number)},
        channel_id=f"cb-{number}-a",
    )


def test_originates_from_sync_code_over_one_warm_link(server: ThreadedFakeAmi, pool: BlockingAmiPool) -> None:
    # given
    port = server.fake.port

    # when two tasks originate in turn
    first = pool.originate("node-1", "127.0.0.1", port, "callback", "secret", request(1), timeout=2.0)
    started = time.perf_counter()
    second = pool.originate("node-1", "127.0.0.1", port, "callback", "secret", request(2), timeout=2.0)
    warm_latency = time.perf_counter() - started

    # then both were queued, over a single login with events off
    assert first.message == second.message == "Originate successfully queued"
    assert [a["ActionID"] for a in server.fake.actions("Originate")] == ["cb-1-orig", "cb-2-orig"]
    logins = server.fake.actions("Login")
    assert len(logins) == 1
    assert logins[0]["Events"] == "off"
    assert warm_latency < 0.1  # a few ms in practice; generous for a loaded CI box
    assert pool.is_connected("node-1")


def test_send_action_from_sync_code(server: ThreadedFakeAmi, pool: BlockingAmiPool) -> None:
    response = pool.send_action("node-1", "127.0.0.1", server.fake.port, "callback", "secret", {"Action": "Ping"})
    assert response.get("Ping") == "Pong"


def test_unreachable_node_fails_fast_as_not_sent(pool: BlockingAmiPool, server: ThreadedFakeAmi) -> None:
    # given a node nobody listens on (the fake's port, once it is stopped)
    port = server.fake.port
    server.call(server.fake.stop())

    # when
    started = time.monotonic()
    with pytest.raises(AmiNotConnected):
        pool.originate("node-down", "127.0.0.1", port, "callback", "secret", request(3), timeout=0.3)

    # then within the caller's timeout, and nothing was sent
    assert time.monotonic() - started < 1.0
    assert server.fake.actions("Originate") == []


def test_dropped_link_during_originate_reports_outcome_unknown_from_sync_code(
    server: ThreadedFakeAmi, pool: BlockingAmiPool
) -> None:
    server.fake.drop_on = {"originate"}
    with pytest.raises(OriginateOutcomeUnknown):
        pool.originate("node-1", "127.0.0.1", server.fake.port, "callback", "secret", request(4), timeout=2.0)
    assert len(server.fake.actions("Originate")) == 1


def test_changed_credentials_replace_the_nodes_link(server: ThreadedFakeAmi, pool: BlockingAmiPool) -> None:
    port = server.fake.port
    pool.send_action("node-1", "127.0.0.1", port, "callback", "old-secret", {"Action": "Ping"})
    pool.send_action("node-1", "127.0.0.1", port, "callback", "new-secret", {"Action": "Ping"})
    assert [login["Secret"] for login in server.fake.actions("Login")] == ["old-secret", "new-secret"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_pool_works_in_a_forked_child_with_its_own_link(server: ThreadedFakeAmi, pool: BlockingAmiPool) -> None:
    """Celery prefork: the parent may have used the pool; the child must build its own thread and link."""
    # given the parent has a warm link
    port = server.fake.port
    pool.originate("node-1", "127.0.0.1", port, "callback", "secret", request(5), timeout=2.0)

    # when a forked child originates through the same pool object
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            response = pool.originate("node-1", "127.0.0.1", port, "callback", "secret", request(6), timeout=2.0)
            code = 0 if response.success else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)

    # then the child succeeded over a second login, and the parent's link still works
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(server.fake.actions("Login")) == 2
    pool.originate("node-1", "127.0.0.1", port, "callback", "secret", request(7), timeout=2.0)
    assert [a["ActionID"] for a in server.fake.actions("Originate")] == ["cb-5-orig", "cb-6-orig", "cb-7-orig"]
    assert len(server.fake.actions("Login")) == 2
