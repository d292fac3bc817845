"""The AMI session rules and the faults Huibo's client must survive, as a real Asterisk 22 shows them.

Each test tells one story; time runs 10-100x faster than real time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from asterisk.simulator import ALL_CLASSES, Simulator
from asterisk.simulator.tests.client import AmiClient, originate

AGENT_STAYS_UP = "8613800001100"
VISITOR_STAYS_UP = "8613900001100"


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=20))


async def _reconnect(sim: Simulator) -> AmiClient:
    """Connect as soon as "Asterisk" listens again (connections are refused while it restarts)."""
    await sim.wait_until_listening()
    return await AmiClient.connect(sim.port)


async def _bridged_call(client: AmiClient, action_id: str = "cb-1", **extra: str) -> None:
    await client.send_pairs(originate(action_id, AGENT_STAYS_UP, VISITOR_STAYS_UP, {"HUIBO_ATTEMPT": "7"}, **extra))
    await client.event("BridgeEnter", BridgeNumChannels="2", timeout=10)


def test_a_wrong_secret_is_refused_after_one_second_and_the_link_closed() -> None:
    """Login with a wrong secret: nothing for a second (scaled), then "Authentication failed", then EOF."""

    async def story() -> None:
        async with Simulator(time_scale=0.2) as sim:
            # given
            client = await AmiClient.connect(sim.port)
            loop = asyncio.get_running_loop()
            started = loop.time()
            # when
            reply = await client.login(secret="wrong")
            elapsed = loop.time() - started
            # then
            assert reply == {"Response": "Error", "ActionID": "login", "Message": "Authentication failed"}
            assert 0.18 <= elapsed < 1.0
            assert await client.closed()

    run(story)


def test_an_unknown_user_is_refused_the_same_way() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.05) as sim:
            client = await AmiClient.connect(sim.port)
            reply = await client.login(username="nosuchuser", secret="wrong")
            assert reply["Message"] == "Authentication failed"
            assert await client.closed()

    run(story)


def test_actions_before_login_are_denied_and_the_link_stays_open() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.05) as sim:
            client = await AmiClient.connect(sim.port)
            # when
            await client.send(Action="Ping", ActionID="early")
            await client.send_pairs(originate("early-orig", AGENT_STAYS_UP, VISITOR_STAYS_UP))
            # then
            assert await client.response("early") == {
                "Response": "Error",
                "ActionID": "early",
                "Message": "Permission denied",
            }
            assert (await client.response("early-orig"))["Message"] == "Permission denied"
            assert sim.channels() == []
            assert (await client.login())["Message"] == "Authentication accepted"
            await client.send(Action="Ping", ActionID="later")
            assert (await client.response("later"))["Ping"] == "Pong"

    run(story)


def test_login_shows_fully_booted_with_the_uptime() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            booted = await client.event("FullyBooted")
            assert booted["Privilege"] == "system,all"
            assert booted["Status"] == "Fully Booted"
            assert int(booted["Uptime"]) >= 0

    run(story)


def test_events_off_at_login_silences_events_until_the_events_action_turns_them_on() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await AmiClient.connect(sim.port)
            # given: events off, so not even FullyBooted
            await client.login(events="off")
            await client.send_pairs(originate("cb-quiet", AGENT_STAYS_UP, VISITOR_STAYS_UP))
            assert (await client.response("cb-quiet"))["Message"] == "Originate successfully queued"
            await client.send(Action="Ping", ActionID="p1")
            await client.response("p1")
            # when
            await client.send(Action="Events", ActionID="ev", EventMask="on")
            # then
            assert await client.response("ev") == {"Response": "Success", "ActionID": "ev", "Events": "On"}
            await client.event("BridgeEnter", BridgeNumChannels="2", timeout=10)
            assert not any(
                "Event" in m for m in client.messages[: client.messages.index(await _first_response(client, "ev"))]
            )

    async def _first_response(client: AmiClient, action_id: str) -> dict[str, str]:
        return next(m for m in client.messages if m.get("ActionID") == action_id)

    run(story)


def test_a_second_originate_reusing_a_live_channel_id_places_no_second_call(caplog: pytest.LogCaptureFixture) -> None:
    """Channel Unique ID already in use: channel.c refuses to allocate the channel and logs why; over AMI the
    Originate was queued and then fails with Reason 0 and that Uniqueid (as when no channel can be made,
    transcript 08b). The first call goes on; once it has ended, the id is free again."""

    async def story() -> None:
        # a user with the call class, to end the first call (Huibo's own has no right to hang up)
        async with Simulator(time_scale=0.01, write=("originate", "call")) as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            await _bridged_call(client, "cb-1", ChannelId="attempt-9-a", OtherChannelId="attempt-9-b")
            assert len(sim.channels()) == 4
            # when
            await client.send_pairs(originate("cb-1-again", AGENT_STAYS_UP, VISITOR_STAYS_UP, ChannelId="attempt-9-a"))
            # then
            failed = await client.event("OriginateResponse", ActionID="cb-1-again")
            assert (failed["Response"], failed["Reason"], failed["Uniqueid"]) == ("Failure", "0", "attempt-9-a")
            assert failed["Channel"] == f"Local/{AGENT_STAYS_UP}@huibo-outbound"
            assert len(sim.channels()) == 4
            assert "Channel Unique ID 'attempt-9-a' already in use by channel Local/" in caplog.text
            # and after the first call ended, the id can be used again
            first_leg = next(name for name in sim.channels() if name.endswith(";1"))
            await client.send(Action="Hangup", ActionID="h", Channel=first_leg)
            await client.event("Cdr", UniqueID="attempt-9-a", timeout=10)
            while sim.channels():
                await client.read_message()
            await client.send_pairs(originate("cb-2", AGENT_STAYS_UP, VISITOR_STAYS_UP, ChannelId="attempt-9-a"))
            answered = await client.event("OriginateResponse", ActionID="cb-2", timeout=10)
            assert (answered["Response"], answered["Uniqueid"]) == ("Success", "attempt-9-a")

    run(story)


def test_drop_resets_every_connection_and_the_calls_carry_on() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            await _bridged_call(client)
            # when
            sim.drop_connections()
            # then
            assert await client.closed()
            assert len(sim.channels()) == 4
            again = await AmiClient.connect(sim.port)
            assert (await again.login())["Message"] == "Authentication accepted"

    run(story)


def test_a_silent_link_stays_open_but_answers_nothing() -> None:
    """Half-open: the socket is not closed, a Ping gets no Pong; only a new connection, once the path is
    back, works again."""

    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            await client.event("FullyBooted")  # the last message before the silence
            # when
            sim.go_silent()
            await client.send(Action="Ping", ActionID="p")
            # then: no answer and no EOF within the time a real Pong takes many times over
            try:
                await client.read_message(timeout=0.3)
                raise AssertionError("a silent link answered")
            except TimeoutError:
                pass
            assert not client.reader.at_eof()
            try:
                await asyncio.wait_for(AmiClient.connect(sim.port), 0.3)
                raise AssertionError("a new connection got a banner while the path is silent")
            except TimeoutError:
                pass
            sim.end_silence()
            fresh = await AmiClient.connect(sim.port)
            assert (await fresh.login())["Message"] == "Authentication accepted"

    run(story)


def test_restart_hangs_up_every_channel_says_shutdown_then_comes_back_with_uptime_zero() -> None:
    """Transcript 15: all channels hang up at once, Shutdown (Cleanly, Restart: True) about 1.1 s later, the
    socket closes, connections are refused for a while, then Login shows Uptime 0 and no channels."""

    async def story() -> None:
        async with Simulator(time_scale=0.05, read="all") as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            await _bridged_call(client)
            # when
            sim.restart()
            # then
            shutdown = await client.event("Shutdown")
            assert (shutdown["Shutdown"], shutdown["Restart"]) == ("Cleanly", "True")
            hangups = [m for m in client.messages if m.get("Event") == "Hangup"]
            assert len(hangups) == 4
            assert await client.closed()
            assert sim.channels() == []
            again = await _reconnect(sim)
            await again.login()
            booted = await again.event("FullyBooted")
            assert booted["Uptime"] == "0"

    run(story)


def test_a_crash_just_closes_the_socket_and_the_calls_are_gone() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.05, read="all") as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            await _bridged_call(client)
            seen = len(client.messages)
            # when
            sim.crash()
            # then: no Hangup, no Shutdown, just EOF
            assert await client.closed()
            assert not any(m.get("Event") in ("Hangup", "Shutdown") for m in client.messages[seen:])
            again = await _reconnect(sim)
            await again.login()
            assert (await again.event("FullyBooted"))["Uptime"] == "0"
            assert sim.channels() == []

    run(story)


def test_the_production_user_may_not_run_cli_commands_or_touch_channels() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            await client.send(Action="Command", ActionID="c", Command="core show version")
            assert (await client.response("c"))["Message"] == "Permission denied"
            await client.send(Action="Hangup", ActionID="h", Channel="all")
            assert (await client.response("h"))["Message"] == "Permission denied"

    run(story)


def test_read_classes_filter_events_as_manager_conf_does() -> None:
    """The production user reads system, call and cdr: no VarSet/Newexten (dialplan), no SuccessfulAuth."""

    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            await _bridged_call(client)
            names = {m.get("Event") for m in client.messages if "Event" in m}
            assert {"FullyBooted", "Newchannel", "DialBegin", "BridgeEnter", "OriginateResponse"} <= names
            assert not names & {"VarSet", "Newexten", "SuccessfulAuth"}

    run(story)


def test_every_class_reaches_a_user_with_read_all() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.01, read="all", write="all") as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            await _bridged_call(client)
            names = {m.get("Event") for m in client.messages if "Event" in m}
            assert {"VarSet", "Newexten", "SuccessfulAuth", "LocalBridge"} <= names
            assert ALL_CLASSES >= {"security", "dialplan"}

    run(story)


def test_a_client_that_stops_reading_is_disconnected_as_writetimeout_does() -> None:
    """Asterisk gives up on a session whose socket stays full for writetimeout (100 ms): RELIABILITY R6."""

    async def story() -> None:
        async with Simulator(time_scale=0.01, read="all", write_timeout=0.05) as sim:
            # a small receive window, so the server's socket fills after a few calls' events
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", sim.port))
            sock.setblocking(False)
            reader, writer = await asyncio.open_connection(sock=sock)
            client = AmiClient(reader, writer, banner=await reader.readline())
            await client.login()
            # when: the calls' events pile up and the client reads nothing
            for i in range(150):
                await client.send_pairs(originate(f"cb-{i}", f"86138{i:08d}", "8613900001100"))
            while sim.server.sessions:
                await asyncio.sleep(0.01)  # polling the server's own state: there is no event to await
            # then
            assert sim.channels()  # the calls are not affected
            assert await client.closed()

    run(story)


def test_a_login_while_asterisk_boots_gets_fully_booted_later_as_an_event() -> None:
    """FullyBooted's two shapes: in the login reply once booted; as a later event, fields in another order,
    when the login came during the boot."""

    async def story() -> None:
        async with Simulator(time_scale=0.01, booting_seconds=2.0) as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            sim.crash()
            assert await client.closed()
            # when: logging in as soon as AMI listens, before the boot completes
            again = await _reconnect(sim)
            reply = await again.login()
            # then
            assert reply["Message"] == "Authentication accepted"
            booted = await again.event("FullyBooted")
            assert list(booted) == ["Event", "Privilege", "Status", "Uptime", "LastReload"]
            assert booted["Uptime"].isdigit()  # wall-clock seconds: 0 after a 0.02 s compressed boot
            assert again.messages.index(reply) < again.messages.index(booted)

    run(story)
