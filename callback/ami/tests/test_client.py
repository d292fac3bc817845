"""AmiClient against a fake AMI server: each panoramisk hazard, login modes, restart detection, lists, refusals.

Intervals are short (Ping every 0.2 s) so the whole module runs in a few seconds; every wait is on an event
(a hook call, an action reaching the fake server), never a bare sleep.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from callback.ami import (
    AmiActionError,
    AmiActionTimeout,
    AmiAuthError,
    AmiClient,
    AmiConnectionLost,
    AmiNotConnected,
    OriginateOutcomeUnknown,
    OriginateRejected,
    OriginateRequest,
)

from .fake_ami import FakeAmi, FakeConn, HookRecorder, async_test, fully_booted, message

FAST: dict[str, Any] = {
    "action_timeout": 1.0,
    "ping_interval": 0.2,
    "ping_timeout": 0.2,
    "backoff_base": 0.02,
    "backoff_cap": 0.1,
    "refused_retry_cap": 0.05,
}


def make_client(fake: FakeAmi, hooks: HookRecorder, **options: Any) -> AmiClient:
    settings = {**FAST, **options}
    return AmiClient("127.0.0.1", fake.port, "callback", "secret", **hooks.hooks(), **settings)


def originate_request(number: int = 101) -> OriginateRequest:
    return OriginateRequest(
        action_id=f"cb-{number}-orig",
        channel="Local/1100@phones",
        context="callback",
        exten="1005",
        caller_id=f'"Callback {number}" <1005>',
        variables={"CALLBACK_ID": str(number)},
        channel_id=f"cb-{number}-a",
        other_channel_id=f"cb-{number}-b",
    )


# -- login ---------------------------------------------------------------------------------------------------------


@async_test()
async def test_login_with_events_on_reports_uptime_and_delivers_events() -> None:
    async with FakeAmi(uptime=267) as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            # when
            await hooks.wait(lambda: hooks.connected)

            # then
            assert hooks.connected == [(267, False)]
            assert client.connected
            login = fake.actions("Login")[0]
            assert (login["Username"], login["Secret"], login["Events"]) == ("callback", "secret", "on")
            # the FullyBooted and SuccessfulAuth that follow a login reach on_event too
            assert [event.name for event in hooks.events] == ["FullyBooted", "SuccessfulAuth"]


@async_test()
async def test_login_with_events_off_announces_without_uptime_and_gets_no_events() -> None:
    async with FakeAmi() as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks, events=False) as client:
            await hooks.wait(lambda: hooks.connected)
            fake.broadcast(message("Event: Newchannel", "Channel: Local/1100@phones-00000001;1"))
            response = await client.send_action({"Action": "Ping"})

            assert fake.actions("Login")[0]["Events"] == "off"
            assert hooks.connected == [(None, False)]
            assert response.get("Ping") == "Pong"
            assert hooks.events == []


@async_test()
async def test_failed_login_is_logged_and_retried_with_growing_backoff(caplog: pytest.LogCaptureFixture) -> None:
    # given an Asterisk that refuses our secret
    async with FakeAmi() as fake:
        fake.auth_ok = False
        hooks = HookRecorder()
        caplog.set_level(logging.INFO, logger="callback.ami")
        async with make_client(fake, hooks) as client:
            # when it has tried four times
            await fake.wait_action("Login", 4)

            # then it backs off between tries, and says why
            assert client.backoff.attempts >= 3
            assert isinstance(client.last_error, AmiAuthError)
            assert hooks.connected == []
            assert "ami.login.failed" in caplog.text
            retries = [
                r
                for r in caplog.records
                if r.getMessage().startswith("ami.link.retry") and r.ami["node"] == client.label  # type: ignore[attr-defined]
            ]
            assert [r.ami["attempt"] for r in retries[:3]] == [1, 2, 3]  # type: ignore[attr-defined]
            # an action waits for a login that never comes: not sent, and the cause is chained
            with pytest.raises(AmiNotConnected) as refused:
                await client.send_action({"Action": "Ping"}, timeout=0.1)
            assert isinstance(refused.value.__cause__, AmiAuthError)
            assert fake.actions("Ping") == []

            # when the secret is fixed on the Asterisk side
            fake.auth_ok = True
            await hooks.wait(lambda: hooks.connected)

            # then the backoff starts again from the base
            assert client.backoff.attempts == 0
            assert client.last_error is None


# -- hazard 1: an Originate is never re-sent -------------------------------------------------------------------------


@async_test()
async def test_link_drop_between_originate_and_its_reply_is_reported_once_and_never_resent() -> None:
    """R1. The story: Asterisk receives the Originate, the TCP link dies before any reply, the client reconnects.

    panoramisk re-sent the Originate after the reconnect (a second dial). We must raise OriginateOutcomeUnknown and
    Asterisk must have seen exactly one Originate, even after the new link has been up for a while.
    """
    async with FakeAmi() as fake:
        fake.drop_on = {"originate"}
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)

            # when
            with pytest.raises(OriginateOutcomeUnknown) as unknown:
                await client.originate(originate_request(101), timeout=3.0)

            # then the caller learns at once, with the key it needs to reconcile
            assert unknown.value.cause == "connection_lost"
            assert unknown.value.action_id == "cb-101-orig"
            assert isinstance(unknown.value.__cause__, AmiConnectionLost)
            assert client.pending_actions == 0

            # and after the reconnect and two keep-alive rounds on the new link...
            await hooks.wait(lambda: len(hooks.connected) == 2)
            pings_before = len(fake.actions("Ping"))
            await fake.wait_action("Ping", pings_before + 2)

            # ...Asterisk has still seen exactly one Originate
            assert len(fake.actions("Originate")) == 1
            assert len(fake.actions("Login")) == 2
            assert len(hooks.disconnected) == 1


@async_test()
async def test_originate_written_when_no_link_is_up_is_never_sent_later() -> None:
    # given Asterisk is down
    async with FakeAmi() as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)
            await fake.stop()
            await hooks.wait(lambda: hooks.disconnected)

            # when an Originate is attempted during the outage
            with pytest.raises(AmiNotConnected):
                await client.originate(originate_request(102), timeout=0.3)

            # then, once Asterisk is back, it is not sent behind the caller's back
            await fake.listen()
            await hooks.wait(lambda: len(hooks.connected) == 2)
            await fake.wait_action("Ping", len(fake.actions("Ping")) + 1)
            assert fake.actions("Originate") == []


# -- hazard 2: nothing is left pending, every action has a timeout -----------------------------------------------------


@async_test()
async def test_action_pending_when_the_link_drops_fails_at_once() -> None:
    async with FakeAmi() as fake:

        async def swallow(conn: FakeConn, action: Any) -> None:
            conn.server.drop_all()  # the reply never comes: the link dies first

        fake.scripts["coreshowchannels"] = swallow
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)

            started = time.monotonic()
            with pytest.raises(AmiConnectionLost) as lost:
                await client.send_action_list({"Action": "CoreShowChannels"}, timeout=5.0)

            assert time.monotonic() - started < 1.0  # at once, not after the 5 s timeout
            assert lost.value.action == "CoreShowChannels"
            assert client.pending_actions == 0


@async_test()
async def test_unanswered_action_times_out_and_leaves_nothing_pending() -> None:
    async with FakeAmi() as fake:

        async def ignore(conn: FakeConn, action: Any) -> None:
            return None

        fake.scripts["status"] = ignore
        hooks = HookRecorder()
        async with make_client(fake, hooks, ping_interval=5.0) as client:
            await hooks.wait(lambda: hooks.connected)

            started = time.monotonic()
            with pytest.raises(AmiActionTimeout) as timed_out:
                await client.send_action({"Action": "Status"}, timeout=0.15)

            assert 0.14 < time.monotonic() - started < 0.6
            assert timed_out.value.timeout == pytest.approx(0.15, abs=0.01)
            assert client.pending_actions == 0
            assert client.connected  # a slow action is not a dead link


@async_test()
async def test_unanswered_originate_times_out_as_outcome_unknown() -> None:
    async with FakeAmi() as fake:

        async def ignore(conn: FakeConn, action: Any) -> None:
            return None

        fake.scripts["originate"] = ignore
        hooks = HookRecorder()
        async with make_client(fake, hooks, ping_interval=5.0) as client:
            await hooks.wait(lambda: hooks.connected)

            with pytest.raises(OriginateOutcomeUnknown) as unknown:
                await client.originate(originate_request(103), timeout=0.15)

            assert unknown.value.cause == "timeout"
            assert client.pending_actions == 0


@async_test()
async def test_late_reply_after_a_timeout_is_logged_not_delivered(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeAmi() as fake:
        late = asyncio.Event()

        async def answer_late(conn: FakeConn, action: Any) -> None:
            await late.wait()
            conn.send(message("Response: Success", f"ActionID: {action['ActionID']}", "Message: late"))

        fake.scripts["status"] = answer_late
        hooks = HookRecorder()
        async with make_client(fake, hooks, ping_interval=5.0) as client:
            await hooks.wait(lambda: hooks.connected)
            with pytest.raises(AmiActionTimeout):
                await client.send_action({"Action": "Status", "ActionID": "st-1"}, timeout=0.1)

            with caplog.at_level(logging.WARNING, logger="callback.ami"):
                late.set()
                response = await client.send_action({"Action": "Ping"})  # answered after the late reply

            assert response.get("Ping") == "Pong"
            assert "ami.response.unmatched" in caplog.text
            assert "action_id=st-1" in caplog.text


# -- hazard 3: a keep-alive that expects its answer ----------------------------------------------------------------


@async_test()
async def test_half_open_link_is_detected_within_ping_interval_plus_timeout_and_reconnected() -> None:
    """R3. The story: the link goes silent (a half-open TCP connection: no FIN, no RST, no bytes)."""
    async with FakeAmi() as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)

            # when the server stops answering on this connection
            silenced_at = time.monotonic()
            fake.last_conn.mute = True

            # then the client declares it dead within ping_interval + ping_timeout (+ scheduling slack)...
            await hooks.wait(lambda: hooks.disconnected)
            assert hooks.disconnected_at[0] - silenced_at <= 0.2 + 0.2 + 0.15
            assert "Ping" in hooks.disconnected[0]

            # ...and is logged in again on a new connection
            await hooks.wait(lambda: len(hooks.connected) == 2)
            assert len(fake.conns) == 2
            assert (await client.send_action({"Action": "Ping"})).get("Ping") == "Pong"


@async_test()
async def test_healthy_link_survives_many_keepalive_rounds() -> None:
    async with FakeAmi() as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)
            await fake.wait_action("Ping", len(fake.actions("Ping")) + 5)
            assert hooks.disconnected == []
            assert len(fake.conns) == 1
            assert client.connected


# -- hazard 4: reconnect timing ------------------------------------------------------------------------------------


@async_test()
async def test_relogin_follows_quickly_when_asterisk_is_back_after_a_restart() -> None:
    """R3: AMI refuses connections for ~1.5 s during 'core restart'; re-login must follow within seconds."""
    async with FakeAmi(uptime=500) as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks, refused_retry_cap=0.1, backoff_cap=30.0) as client:
            await hooks.wait(lambda: hooks.connected)

            # when Asterisk goes away, is refused for a while (several retries), then accepts again
            await fake.stop()
            await hooks.wait(lambda: hooks.disconnected)
            await asyncio.sleep(0.6)  # the outage itself: time passing is the point here
            fake.uptime = 0
            back_at = time.monotonic()
            await fake.listen()

            # then the client is logged in again soon (ceiling while refused: 0.1 s), and knows it was a restart
            await hooks.wait(lambda: len(hooks.connected) == 2)
            assert hooks.connected_at[1] - back_at < 0.5
            assert hooks.connected[1] == (0, True)
            assert client.backoff.attempts == 0


# -- hazard 5 and 6 over a real socket -----------------------------------------------------------------------------


@async_test()
async def test_non_ascii_event_sent_one_byte_per_write_arrives_intact() -> None:
    async with FakeAmi() as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks):
            await hooks.wait(lambda: hooks.connected)
            event = message("Event: NewCallerid", "Channel: Local/1005@phones-00000003;2", "CallerIDName: 张三 Привет")
            conn = fake.last_conn

            for index in range(len(event)):
                conn.send(event[index : index + 1])
                await conn.writer.drain()

            await hooks.wait(lambda: hooks.named("NewCallerid"))
            assert hooks.named("NewCallerid")[0].get("CallerIDName") == "张三 Привет"


@async_test()
async def test_malformed_message_is_skipped_and_the_link_stays_up(caplog: pytest.LogCaptureFixture) -> None:
    """R9. panoramisk closed the link on a repeated Event header; the events after it were lost."""
    async with FakeAmi() as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)

            # when a malformed message is followed by a good one
            with caplog.at_level(logging.WARNING, logger="callback.ami"):
                fake.broadcast(
                    message("Event: Newchannel", "Event: Hangup", "Channel: Local/1100@phones-00000001;1")
                    + message("Event: Hangup", "Channel: Local/1100@phones-00000001;1", "Cause: 16")
                )
                await hooks.wait(lambda: hooks.named("Hangup"))

            # then the good one is delivered, on the same link
            assert hooks.named("Hangup")[0].get("Cause") == "16"
            assert hooks.named("Newchannel") == []
            assert "ami.parse.malformed" in caplog.text
            assert hooks.disconnected == []
            assert len(fake.conns) == 1
            assert client.connected


@async_test()
async def test_exception_in_on_event_is_logged_and_the_next_event_delivered(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeAmi() as fake:
        hooks = HookRecorder()

        def on_event(event: Any) -> None:
            if event.name == "Boom":
                raise RuntimeError("listener bug")
            hooks.on_event(event)

        client = AmiClient(
            "127.0.0.1", fake.port, "callback", "secret", **{**hooks.hooks(), "on_event": on_event}, **FAST
        )
        async with client:
            await hooks.wait(lambda: hooks.connected)
            with caplog.at_level(logging.ERROR, logger="callback.ami"):
                fake.broadcast(message("Event: Boom") + message("Event: After"))
                await hooks.wait(lambda: hooks.named("After"))
            assert "ami.dispatch.failed" in caplog.text
            assert hooks.disconnected == []


# -- restart detection ---------------------------------------------------------------------------------------------


@async_test()
async def test_uptime_tells_a_link_blip_from_an_asterisk_restart() -> None:
    async with FakeAmi(uptime=1000) as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks):
            await hooks.wait(lambda: hooks.connected)

            # when the link blips (Asterisk kept running: Uptime moved on with the clock)
            fake.drop_all()
            await hooks.wait(lambda: len(hooks.connected) == 2)

            # and then Asterisk restarts (Uptime starts again from 0)
            fake.uptime = 0
            fake.drop_all()
            await hooks.wait(lambda: len(hooks.connected) == 3)

            # then
            assert hooks.connected == [(1000, False), (1000, False), (0, True)]
            assert len(hooks.disconnected) == 2


@async_test()
async def test_restart_is_detected_even_when_the_new_uptime_is_larger_than_the_old_one() -> None:
    """Connected at Uptime 2 (both started together), Asterisk restarted long after and was back at Uptime 3:
    comparing raw Uptimes would miss it; comparing boot instants does not."""
    async with FakeAmi(uptime=2) as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)
            client._boot_mark -= 3600  # type: ignore[operator]  # as if the first login was an hour ago
            fake.uptime = 3
            fake.drop_all()
            await hooks.wait(lambda: len(hooks.connected) == 2)
            assert hooks.connected[1] == (3, True)


@async_test()
async def test_login_during_boot_announces_when_fully_booted_arrives() -> None:
    """Login while Asterisk boots: no FullyBooted with the reply; it comes later, Status first (README "Facts")."""
    async with FakeAmi(uptime=900) as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)

            # when Asterisk restarts and we log in before it is fully booted
            fake.booting = True
            fake.drop_all()
            await fake.wait_logins(2)
            await fake.wait_action("Ping", len(fake.actions("Ping")) + 1)  # our post-login barrier went through
            assert len(hooks.connected) == 1  # not announced yet
            fake.booting = False
            fake.broadcast(fully_booted(1, as_late_event=True))

            # then on_connected comes with the FullyBooted, flagged as a restart
            await hooks.wait(lambda: len(hooks.connected) == 2)
            assert hooks.connected[1] == (1, True)
            assert client.connected


@async_test()
async def test_missing_fully_booted_is_announced_after_the_boot_timeout(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeAmi() as fake:
        fake.booting = True  # e.g. an AMI user without read=system never gets FullyBooted
        hooks = HookRecorder()
        caplog.set_level(logging.WARNING, logger="callback.ami")
        async with make_client(fake, hooks, boot_timeout=0.2):
            await hooks.wait(lambda: hooks.connected)
            assert hooks.connected == [(None, False)]
            assert "ami.link.fully_booted_missing" in caplog.text


# -- actions ---------------------------------------------------------------------------------------------------------


@async_test()
async def test_originate_returns_the_queued_response_and_the_outcome_arrives_as_an_event() -> None:
    async with FakeAmi() as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)

            response = await client.originate(originate_request(304))
            fake.broadcast(
                message(
                    "Event: OriginateResponse",
                    "Privilege: call,all",
                    "ActionID: cb-304-orig",
                    "Response: Success",
                    "Channel: Local/1100@phones-0000001f;1",
                    "Reason: 4",
                    "Uniqueid: cb-304-a",
                    "ChanVariable(Local/1100@phones-0000001f;1): CALLBACK_ID=304",
                )
            )
            await hooks.wait(lambda: hooks.named("OriginateResponse"))

            assert response.message == "Originate successfully queued"
            sent = fake.actions("Originate")[0]
            assert (sent["ActionID"], sent["ChannelId"], sent["OtherChannelId"], sent["Async"]) == (
                "cb-304-orig",
                "cb-304-a",
                "cb-304-b",
                "true",
            )
            assert sent["Variable"] == "CALLBACK_ID=304"
            outcome = hooks.named("OriginateResponse")[0]
            assert (outcome.action_id, outcome.get("Reason"), outcome.chan_variables()) == (
                "cb-304-orig",
                "4",
                {"CALLBACK_ID": "304"},
            )


@async_test()
async def test_originate_refused_by_asterisk_raises_originate_rejected() -> None:
    async with FakeAmi() as fake:

        async def in_use(conn: FakeConn, action: Any) -> None:
            conn.send(
                message(
                    "Response: Error",
                    f"ActionID: {action['ActionID']}",
                    f"Message: Channel Unique ID '{action['ChannelId']}' already in use",
                )
            )

        fake.scripts["originate"] = in_use
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)
            with pytest.raises(OriginateRejected, match="already in use") as rejected:
                await client.originate(originate_request(117))
            assert rejected.value.response.name == "Error"
            assert client.connected


@async_test()
async def test_core_show_channels_collects_the_event_list() -> None:
    async with FakeAmi() as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)
            events_before = len(hooks.events)

            channels = await client.send_action_list({"Action": "CoreShowChannels"})

            assert [c.name for c in channels] == ["CoreShowChannel", "CoreShowChannel"]
            assert [c.get("Uniqueid") for c in channels] == ["1795301083.66", "1795301083.67"]
            assert {c.get("Linkedid") for c in channels} == {"1795301083.66"}
            assert len(hooks.events) == events_before  # list items are the reply, not events
            assert client.pending_actions == 0


@async_test()
async def test_event_list_refused_by_asterisk_raises_action_error() -> None:
    async with FakeAmi() as fake:

        async def denied(conn: FakeConn, action: Any) -> None:
            conn.send(message("Response: Error", f"ActionID: {action['ActionID']}", "Message: Permission denied"))

        fake.scripts["coreshowchannels"] = denied
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)
            with pytest.raises(AmiActionError, match="Permission denied"):
                await client.send_action_list({"Action": "CoreShowChannels"})


@async_test()
async def test_unsafe_action_is_refused_before_anything_is_sent() -> None:
    async with FakeAmi() as fake:
        hooks = HookRecorder()
        async with make_client(fake, hooks) as client:
            await hooks.wait(lambda: hooks.connected)
            received_before = len(fake.received)

            with pytest.raises(ValueError):
                await client.send_action({"Action": "Originate", "Exten": "1005\r\nAction: Command"})

            assert len(fake.received) == received_before


@async_test()
async def test_close_logs_off_fails_nothing_silently_and_refuses_new_actions() -> None:
    async with FakeAmi() as fake:
        hooks = HookRecorder()
        client = make_client(fake, hooks)
        await client.start()
        await hooks.wait(lambda: hooks.connected)

        await client.close()

        assert len(fake.actions("Logoff")) == 1
        assert hooks.disconnected == ["client closed"]
        assert not client.connected
        with pytest.raises(AmiNotConnected):
            await client.send_action({"Action": "Ping"})
        await client.close()  # idempotent


@async_test()
async def test_close_wakes_an_action_waiting_for_the_login() -> None:
    # given Asterisk is unreachable and an Originate waits for a login
    async with FakeAmi() as fake:
        await fake.stop()
        hooks = HookRecorder()
        client = make_client(fake, hooks)
        await client.start()
        waiting = asyncio.ensure_future(client.originate(originate_request(105), timeout=5.0))
        await asyncio.sleep(0)  # let it start waiting

        # when the client is closed
        started = time.monotonic()
        await client.close()

        # then the caller learns at once that nothing was sent
        with pytest.raises(AmiNotConnected, match="closed"):
            await waiting
        assert time.monotonic() - started < 0.5
