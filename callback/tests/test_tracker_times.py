"""The tracker times a call by when its events were received, not when a busy listener got round to them; and
it forgets the calls it sees that Huibo did not place."""

from datetime import UTC, datetime, timedelta

from callback.ami import AmiMessage
from callback.facts import AttemptEnded, Connected, FirstLegAnswered
from callback.tests.transcripts import transcript_messages
from callback.tracker import CallTracker


def test_answer_connect_and_hangup_are_timed_when_received_though_applied_an_hour_later() -> None:
    # given a recorded callback whose messages were received a second apart, from 08:00
    received_from = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    tracker = CallTracker(channel_id_for_action=lambda _action: None, clock=lambda: received_from + timedelta(hours=1))
    messages = transcript_messages("14-originate-with-channelid")
    # when
    facts = [
        fact
        for second, message in enumerate(messages)
        for fact in tracker.feed(message, received_at=received_from + timedelta(seconds=second))
    ]
    # then
    received_until = received_from + timedelta(seconds=len(messages))
    answered = next(f for f in facts if isinstance(f, FirstLegAnswered))
    connected = next(f for f in facts if isinstance(f, Connected))
    ended = next(f for f in facts if isinstance(f, AttemptEnded))
    assert received_from <= answered.at <= connected.at < ended.at <= received_until
    assert ended.connected_at == connected.at
    assert ended.first.answered_at == answered.at
    assert ended.second is not None and ended.second.ended_at is not None and ended.second.ended_at <= received_until


def _event(name: str, **fields: str) -> AmiMessage:
    return AmiMessage(kind="event", name=name, fields={"Event": name, **fields})


def test_a_call_huibo_did_not_place_is_forgotten_once_its_channels_are_gone() -> None:
    # given an inbound call: a channel of its own, no Originate of ours, so no OriginateResponse ever
    tracker = CallTracker(channel_id_for_action=lambda _action: None)
    at = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    inbound = {"Uniqueid": "1795301070.7", "Linkedid": "1795301070.7", "Channel": "PJSIP/trunk-00000007"}
    tracker.feed(_event("Newchannel", **inbound), received_at=at)
    tracker.feed(_event("Hangup", **inbound, Cause="16"), received_at=at + timedelta(seconds=30))
    assert tracker.live_calls == 1  # an OriginateResponse may still come, after the last Hangup
    # when a minute passes
    tracker.feed(_event("Newchannel", Uniqueid="x", Linkedid="y"), received_at=at + timedelta(seconds=91))
    # then
    assert tracker.live_calls == 0
