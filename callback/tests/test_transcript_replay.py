"""Replaying every real Asterisk 22 transcript to the listener's applier leads each request to the right end.

Each transcript in ../shared/asterisk/transcripts is a callback recorded from a real Asterisk. We create
the attempt Huibo would have placed (its ChannelId is the call's Linkedid, its ActionID the one sent),
feed the recorded bytes through our parser and the listener's applier, and check the final state, the
reason and what each leg's disposition says.
"""

import pytest

from callback.ami import AmiMessage
from callback.listener import Applier, _Event
from callback.models import AsteriskNode, CallAttempt, CallbackRequest, CallLeg
from callback.statemachine import Status
from callback.tests.transcripts import TRANSCRIPTS, transcript_messages
from tenants.models import Enterprise

# transcript → per call, in order of the calls' start: (final status, reason, enterprise leg, visitor leg)
EXPECTED = {
    "01-agent-answers-visitor-answers-visitor-hangs-up": [("completed", "visitor_hung_up", "answered", "answered")],
    "02-agent-answers-visitor-answers-agent-hangs-up": [("completed", "enterprise_hung_up", "answered", "answered")],
    "03-agent-busy": [("failed", "enterprise_busy", "busy", None)],
    "03b-agent-congestion": [("failed", "enterprise_unreachable", "congestion", None)],
    "03c-agent-rejects": [("failed", "enterprise_declined", "rejected", None)],
    "03d-agent-busy-with-channelid": [("failed", "enterprise_busy", "busy", None)],
    "04-agent-no-answer": [("failed", "enterprise_no_answer", "no_answer", None)],
    "05-agent-answers-visitor-busy": [("failed", "visitor_busy", "answered", "busy")],
    "06-agent-answers-visitor-no-answer": [("failed", "visitor_no_answer", "answered", "no_answer")],
    "07a-agent-answers-visitor-congestion": [("failed", "visitor_unreachable", "answered", "congestion")],
    "07b-agent-answers-visitor-unallocated-number": [("failed", "visitor_unreachable", "answered", "unallocated")],
    "07c-agent-answers-visitor-nonexistent-extension": [("failed", "visitor_unreachable", "answered", "not_dialled")],
    "08b-originate-nonexistent-agent-number": [("failed", "enterprise_unreachable", "failed", None)],
    "10-two-concurrent-callbacks": [("completed", "visitor_hung_up", "answered", "answered")] * 2,
    "11-originate-application-dial": [("completed", "visitor_hung_up", "answered", "answered")],
    "14-originate-with-channelid": [("completed", "visitor_hung_up", "answered", "answered")],
    "15-asterisk-restart-mid-call": [("completed", "asterisk_restarted", "answered", "answered")],
    "16-happy-path-with-cel": [("completed", "visitor_hung_up", "answered", "answered")],
}
# Scenarios with no call to follow: a refused Originate (08a: synchronous error) and failed logins (09).
WITHOUT_CALLS = {"08a-originate-nonexistent-context", "09-login-wrong-password"}


def _calls(messages: list[AmiMessage]) -> list[tuple[str, str]]:
    """(Linkedid, ActionID) of every call in the stream, in order of start."""
    starts = [m for m in messages if m.name == "Newchannel" and m.get("Uniqueid") == m.get("Linkedid")]
    responses = [m for m in messages if m.name == "OriginateResponse"]
    calls = []
    for start in starts:
        channel = start.get("Channel") or ""
        response = next(
            r
            for r in responses
            if r.get("Uniqueid") == start.get("Uniqueid") or channel.startswith(f"{r.get('Channel')}-")
        )
        calls.append((start.get("Uniqueid") or "", response.get("ActionID") or ""))
    return calls


def test_every_transcript_is_covered() -> None:
    names = {p.name.removesuffix(".ami.txt") for p in TRANSCRIPTS.glob("*.ami.txt")}
    assert names == set(EXPECTED) | WITHOUT_CALLS


def _replay(messages: list[AmiMessage], enterprise: Enterprise) -> list[tuple[str, str, str | None, str | None]]:
    """Per call of the stream: (final status, reason, enterprise leg, visitor leg) once the applier has it all."""
    # given: the attempts Huibo would have placed for the calls in the transcript
    Enterprise.objects.filter(pk=enterprise.pk).update(visitor_retries=0)
    node = AsteriskNode.objects.create(name="pbx", host="127.0.0.1", username="huibo", secret="s")
    requests = []
    for number, (linkedid, action_id) in enumerate(_calls(messages), start=1):
        request = CallbackRequest.objects.create(
            enterprise=enterprise,
            visitor_number=f"+861380000{number:04d}",
            call_order="enterprise_first",
            status=Status.DIALING_ENTERPRISE,
            due_at="2026-11-21T00:00:00Z",
            expires_at="2026-11-22T00:00:00Z",
            attempts_made=1,
            hunted_numbers=[enterprise.bound_numbers.get().pk],
        )
        CallAttempt.objects.create(
            request=request,
            enterprise=enterprise,
            number=1,
            node=node,
            bound_number=enterprise.bound_numbers.get(),
            enterprise_number=enterprise.bound_numbers.get().number,
            visitor_number=request.visitor_number,
            action_id=action_id,
            channel_id=linkedid,
            other_channel_id=f"{linkedid}-2",
            status=CallAttempt.Status.ORIGINATED,
        )
        requests.append(request)
    # when: the recorded stream reaches the listener's applier
    applier = Applier()
    for message in messages:
        applier.handle(_Event(node.pk, message))
    # then
    outcomes = []
    for request in requests:
        request.refresh_from_db()
        legs = {leg.role: leg.disposition for leg in CallLeg.objects.filter(attempt__request=request)}
        outcomes.append((request.status, request.reason_code, legs.get("enterprise"), legs.get("visitor")))
    assert not CallAttempt.objects.exclude(status=CallAttempt.Status.ENDED).exists()
    return outcomes


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_replayed_transcript_ends_each_request_as_the_call_did(name: str, enterprise: Enterprise) -> None:
    assert _replay(transcript_messages(name), enterprise) == EXPECTED[name]


FIRST_LEG_ANSWERED = [name for name, calls in EXPECTED.items() if len(calls) == 1 and calls[0][2] == "answered"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", FIRST_LEG_ANSWERED)
def test_an_originate_success_reported_after_the_last_hangup_still_ends_the_call(
    name: str, enterprise: Enterprise
) -> None:
    """Asterisk sends OriginateResponse from another thread than the hangups (07c: 1 ms apart): under load it
    can come last. The call must end all the same, with the same outcome."""
    messages = transcript_messages(name)
    response = next(m for m in messages if m.name == "OriginateResponse")
    messages.remove(response)
    last_hangup = max(i for i, m in enumerate(messages) if m.name == "Hangup")
    messages.insert(last_hangup + 1, response)
    assert _replay(messages, enterprise) == EXPECTED[name]
