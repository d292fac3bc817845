"""The tracker times a call by when its events were received, not when a busy listener got round to them."""

from datetime import UTC, datetime, timedelta

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
