"""Fidelity: the simulator, driven like the recorder drove a real Asterisk 22, says what Asterisk said.

For every transcript in shared/asterisk/transcripts the recorded client actions are replayed against a fresh
simulator over TCP, each at its recorded moment of simulated time (driver.py), with the recording's
configuration (AMI user ``callback``, ``channelvars = CALLBACK_ID``) and the same numbers. Ids, counters and
timestamps are normalised away (see driver.Normalizer); every other field of every message is compared, in order.

Two runs per transcript:

* with the recording's interleaving of simultaneous events (interleaving.py): the whole stream must be the
  recorded one, message for message: same events, same bursts, same fields;
* with the simulator's own interleaving (what Huibo's code sees in tests and the demo): the responses, each
  channel's own sequence of events and the multiset of events must match. Only the order *between* threads
  may differ, which a real Asterisk varies from run to run (transcripts 01, 14 and 16 are one call thrice).
"""

from __future__ import annotations

from collections import Counter

import pytest

from asterisk.simulator.tests.driver import (
    describe,
    first_difference,
    messages,
    normalized,
    per_channel,
    run_transcript,
    transcripts_dir,
)
from asterisk.simulator.transcript import Transcript, load

TRANSCRIPTS = sorted(transcripts_dir().glob("*.ami.txt"))
# CEL (transcript 16 only, cel.conf enable=yes) is not simulated: see test_cel_events_are_simulated.
SKIP_EVENTS = ("CEL",)


@pytest.fixture(scope="module", params=TRANSCRIPTS, ids=lambda p: p.name.removesuffix(".ami.txt"))
def transcript(request: pytest.FixtureRequest) -> Transcript:
    return load(request.param)


def test_the_transcripts_are_there() -> None:
    assert len(TRANSCRIPTS) >= 20, f"expected the recorded transcripts in {transcripts_dir()}"


def test_the_whole_stream_matches_with_the_recorded_interleaving(transcript: Transcript) -> None:
    run = run_transcript(transcript, use_interleaving=True, skip_events=SKIP_EVENTS)
    for conn in transcript.connections():
        recorded = messages(transcript.raw(conn))
        simulated = messages(run.streams.get(conn, b""))
        for events in (False, True):
            difference = first_difference(
                normalized(recorded, events, SKIP_EVENTS), normalized(simulated, events, SKIP_EVENTS)
            )
            kind = "events" if events else "responses"
            assert difference is None, f"connection {conn} {kind}:\n{difference}"


def test_the_simulators_own_order_differs_only_between_threads(transcript: Transcript) -> None:
    run = run_transcript(transcript, use_interleaving=False, skip_events=SKIP_EVENTS)
    for conn in transcript.connections():
        recorded = messages(transcript.raw(conn))
        simulated = messages(run.streams.get(conn, b""))
        # responses, in order
        difference = first_difference(normalized(recorded, False), normalized(simulated, False))
        assert difference is None, f"connection {conn} responses:\n{difference}"
        recorded_events = normalized(recorded, True, SKIP_EVENTS)
        simulated_events = normalized(simulated, True, SKIP_EVENTS)
        # each channel's own events, in order (channels listed in order of first appearance)
        recorded_channels, simulated_channels = per_channel(recorded_events), per_channel(simulated_events)
        assert list(recorded_channels) == list(simulated_channels)
        for name, recorded_sequence in recorded_channels.items():
            difference = first_difference(recorded_sequence, simulated_channels[name])
            assert difference is None, f"connection {conn} channel {name}:\n{difference}"

        # every event, anywhere: DeviceStateChange's State is worked out when the device-state thread runs,
        # so which of INUSE/NOT_INUSE a racing one shows is part of the interleaving (03 against 03d).
        def bag(events: list[list[tuple[str, str]]]) -> Counter[tuple[tuple[str, str], ...]]:
            return Counter(
                tuple(f for f in e if not (dict(e).get("Event") == "DeviceStateChange" and f[0] == "State"))
                for e in events
            )

        missing = bag(recorded_events) - bag(simulated_events)
        extra = bag(simulated_events) - bag(recorded_events)
        assert not missing and not extra, (
            f"missing {[describe(list(m)) for m in missing]}\nextra {[describe(list(m)) for m in extra]}"
        )


@pytest.mark.xfail(
    strict=True,
    reason="CEL (cel_manager) is not simulated: Huibo's Asterisk ships no cel.conf, so CEL stays off as by default, "
    "and nothing in Huibo reads CEL events. Transcript 16 matches in everything but its 21 CEL events (tests above).",
)
def test_cel_events_are_simulated() -> None:
    transcript = load(transcripts_dir() / "16-happy-path-with-cel.ami.txt")
    run = run_transcript(transcript, use_interleaving=True, skip_events=SKIP_EVENTS)
    simulated = [m for m in messages(run.streams[1]) if m and m[0] == ("Event", "CEL")]
    recorded = [m for m in messages(transcript.raw(1)) if m and m[0] == ("Event", "CEL")]
    assert len(simulated) == len(recorded) == 21
