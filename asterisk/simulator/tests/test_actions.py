"""The other actions Huibo uses (reconciliation, hang-ups, health) and manager.c's replies to mistakes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from asterisk.simulator import Simulator
from asterisk.simulator.tests.client import AmiClient, originate

AGENT = "8613800001100"
VISITOR = "8613900001100"


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=20))


async def _logged_in(sim: Simulator) -> AmiClient:
    client = await AmiClient.connect(sim.port)
    await client.login()
    return client


def test_coreshowchannels_lists_every_channel_in_an_event_list() -> None:
    """Response with EventList: start, one CoreShowChannel per channel carrying the ActionID, then
    CoreShowChannelsComplete with ListItems: what a reconciling client relies on after a reconnect."""

    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await _logged_in(sim)
            await client.send_pairs(originate("cb", AGENT, VISITOR, {"HUIBO_ATTEMPT": "5"}))
            await client.event("BridgeEnter", BridgeNumChannels="2", timeout=10)
            # when
            await client.send(Action="CoreShowChannels", ActionID="list")
            # then
            start = await client.response("list")
            assert start == {
                "Response": "Success",
                "ActionID": "list",
                "EventList": "start",
                "Message": "Channels will follow",
            }
            complete = await client.event("CoreShowChannelsComplete")
            assert complete == {
                "Event": "CoreShowChannelsComplete",
                "ActionID": "list",
                "EventList": "Complete",
                "ListItems": "4",
            }
            listed = [m for m in client.messages if m.get("Event") == "CoreShowChannel"]
            assert [m["Channel"] for m in listed] == sim.channels()
            assert all(m["ActionID"] == "list" and m["ChanVariable"] == "HUIBO_ATTEMPT=5" for m in listed)
            assert {m["Linkedid"] for m in listed} == {listed[0]["Uniqueid"]}
            bridged = [m for m in listed if m["BridgeId"]]
            assert len(bridged) == 2 and len({m["BridgeId"] for m in bridged}) == 1
            assert list(listed[0])[-4:] == ["BridgeId", "Application", "ApplicationData", "Duration"]

    run(story)


def test_status_lists_the_channels_too() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await _logged_in(sim)
            await client.send(Action="Status", ActionID="st")
            assert (await client.response("st"))["EventList"] == "start"
            complete = await client.event("StatusComplete")
            assert (complete["ListItems"], complete["Items"]) == ("0", "0")

    run(story)


def test_hangup_by_channel_name_ends_the_call() -> None:
    async def story() -> None:
        # a user with the call class (Huibo's own has no right to hang up)
        async with Simulator(time_scale=0.01, write=("originate", "call")) as sim:
            client = await _logged_in(sim)
            await client.send_pairs(originate("cb", AGENT, VISITOR))
            answered = await client.event("OriginateResponse", timeout=10)
            await client.event("BridgeEnter", BridgeNumChannels="2", timeout=10)
            # when
            await client.send(Action="Hangup", ActionID="h", Channel=answered["Channel"])
            # then
            assert await client.response("h") == {"Response": "Success", "ActionID": "h", "Message": "Channel Hungup"}
            for _ in range(4):
                await client.event("Hangup", timeout=10)
            assert sim.channels() == []
            await client.send(Action="Hangup", ActionID="h2", Channel=answered["Channel"])
            assert (await client.response("h2"))["Message"] == "No such channel"

    run(story)


def test_a_synchronous_originate_answers_when_the_first_leg_answers_or_fails() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await _logged_in(sim)
            pairs = [p for p in originate("sync-ok", AGENT, VISITOR) if p[0] != "Async"]
            await client.send_pairs(pairs)
            ok = await client.response("sync-ok", timeout=10)
            assert (ok["Response"], ok["Message"]) == ("Success", "Originate successfully queued")
            pairs = [p for p in originate("sync-busy", "8613800002000", VISITOR) if p[0] != "Async"]
            await client.send_pairs(pairs)
            busy = await client.response("sync-busy", timeout=10)
            assert (busy["Response"], busy["Message"]) == ("Error", "Originate failed")
            assert not [m for m in client.messages if m.get("Event") == "OriginateResponse"]

    run(story)


def test_originate_mistakes_are_refused_synchronously() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await _logged_in(sim)
            await client.send_pairs(
                [
                    ("Context", "nosuchcontext") if k == "Context" else (k, v)
                    for k, v in originate("no-ctx", AGENT, VISITOR)
                ]
            )
            await client.send(Action="Originate", ActionID="no-chan", Context="huibo-callback", Exten="1")
            await client.send(Action="Originate", ActionID="bad-chan", Channel="nonsense", Exten="1", Context="x")
            await client.send(Action="Originate", ActionID="no-exten", Channel=f"Local/{AGENT}@huibo-outbound")
            assert (await client.response("no-ctx"))["Message"] == "Extension does not exist."
            assert (await client.response("no-chan"))["Message"] == "Channel not specified"
            assert (await client.response("bad-chan"))["Message"] == "Invalid channel"
            assert (await client.response("no-exten"))["Message"] == (
                "Originate with 'Exten' requires 'Context' and 'Priority'"
            )
            assert sim.channels() == []

    run(story)


def test_a_channel_driver_that_is_not_loaded_fails_after_queueing() -> None:
    """Transcript 08b: "Originate successfully queued", then OriginateResponse Failure, Reason 0."""

    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await _logged_in(sim)
            await client.send_pairs(
                [("Channel", "PJSIP/nobody") if k == "Channel" else (k, v) for k, v in originate("pj", AGENT, VISITOR)]
            )
            assert (await client.response("pj"))["Message"] == "Originate successfully queued"
            failed = await client.event("OriginateResponse")
            assert (failed["Response"], failed["Channel"], failed["Reason"], failed["Uniqueid"]) == (
                "Failure",
                "PJSIP/nobody",
                "0",
                "<unknown>",
            )

    run(story)


def test_ping_command_and_unknown_actions() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.01, write="all") as sim:
            client = await _logged_in(sim)
            await client.send(Action="Ping", ActionID="p")
            pong = await client.response("p")
            assert list(pong) == ["Response", "ActionID", "Ping", "Timestamp"] and pong["Ping"] == "Pong"
            await client.send(Action="Command", ActionID="v", Command="core show version")
            version = await client.response("v")
            assert version["Message"] == "Command output follows"
            assert version["Output"].startswith("Asterisk 22-GIT-")
            await client.send(Action="Frobnicate", ActionID="f")
            assert (await client.response("f"))["Message"] == (
                "Invalid/unknown command: Frobnicate. Use Action: ListCommands to show available commands."
            )
            await client.send(Action="Logoff", ActionID="bye")
            assert await client.response("bye") == {
                "Response": "Goodbye",
                "ActionID": "bye",
                "Message": "Thanks for all the fish.",
            }
            assert await client.closed()

    run(story)
