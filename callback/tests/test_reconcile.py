"""After every AMI login the listener reconciles a node's live attempts with what Asterisk reports (R4)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from callback.ami import AmiMessage
from callback.listener import Applier, _Event, _LinkUp
from callback.models import AsteriskNode, CallAttempt, CallbackRequest
from callback.statemachine import Status
from tenants.models import Enterprise

pytestmark = pytest.mark.django_db


def _event(name: str, **fields: str) -> AmiMessage:
    return AmiMessage(kind="event", name=name, fields={"Event": name, **fields})


@pytest.fixture
def node(db: None) -> AsteriskNode:
    # Asterisk has been up for an hour.
    return AsteriskNode.objects.create(
        name="pbx", host="127.0.0.1", username="huibo", secret="s", booted_at=timezone.now() - timedelta(hours=1)
    )


def _connected_attempt(enterprise: Enterprise, node: AsteriskNode, channel_id: str) -> CallAttempt:
    return _live_attempt(enterprise, node, channel_id, connected=True)


def _live_attempt(enterprise: Enterprise, node: AsteriskNode, channel_id: str, *, connected: bool) -> CallAttempt:
    """An attempt placed 30 s ago: connected since then, or (as far as we know) still ringing the enterprise."""
    placed = timezone.now() - timedelta(seconds=30)
    request = CallbackRequest.objects.create(
        enterprise=enterprise,
        visitor_number="+8613900001100",
        call_order="enterprise_first",
        status=Status.CONNECTED if connected else Status.DIALING_ENTERPRISE,
        due_at=placed,
        expires_at=placed + timedelta(hours=1),
        attempts_made=1,
    )
    return CallAttempt.objects.create(
        request=request,
        enterprise=enterprise,
        number=1,
        node=node,
        enterprise_number="+8613800001100",
        visitor_number=request.visitor_number,
        action_id=f"a-{channel_id}",
        channel_id=channel_id,
        other_channel_id=f"{channel_id}-2",
        status=CallAttempt.Status.CONNECTED if connected else CallAttempt.Status.ORIGINATED,
        originate_sent_at=placed,
        first_answered_at=placed if connected else None,
        connected_at=placed if connected else None,
    )


def test_an_asterisk_restart_ends_every_live_call_on_that_node_with_that_reason(
    enterprise: Enterprise, node: AsteriskNode
) -> None:
    # given: a connected call, then Asterisk comes back with Uptime 0
    attempt = _connected_attempt(enterprise, node, "call-1")
    # when
    Applier().handle(_LinkUp(node.pk, uptime=0, live_channels=(), at=timezone.now()))
    # then
    attempt.request.refresh_from_db()
    assert (attempt.request.status, attempt.request.reason_code) == ("completed", "asterisk_restarted")


def test_after_a_link_blip_a_call_still_up_is_reattached_and_followed_to_its_end(
    enterprise: Enterprise, node: AsteriskNode
) -> None:
    # given: a connected call that Asterisk still lists after the blip (same boot: Uptime of an hour)
    attempt = _connected_attempt(enterprise, node, "call-2")
    channels = (
        _event("CoreShowChannel", Uniqueid="call-2", Linkedid="call-2", Channel="Local/8613800001100@o-1;1"),
        _event("CoreShowChannel", Uniqueid="call-2-2", Linkedid="call-2", Channel="Local/8613800001100@o-1;2"),
        _event("CoreShowChannel", Uniqueid="v-1", Linkedid="call-2", Channel="Local/8613900001100@o-2;1"),
        _event("CoreShowChannel", Uniqueid="v-2", Linkedid="call-2", Channel="Local/8613900001100@o-2;2"),
    )
    applier = Applier()
    applier.handle(_LinkUp(node.pk, uptime=3600, live_channels=channels, at=timezone.now()))
    attempt.request.refresh_from_db()
    assert attempt.request.status == "connected"
    # when: the visitor hangs up, then everything else
    for uniqueid, name in (
        ("v-2", "Local/8613900001100@o-2;2"),
        ("v-1", "Local/8613900001100@o-2;1"),
        ("call-2", "Local/8613800001100@o-1;1"),
        ("call-2-2", "Local/8613800001100@o-1;2"),
    ):
        applier.handle(
            _Event(node.pk, _event("Hangup", Uniqueid=uniqueid, Linkedid="call-2", Channel=name, Cause="16"))
        )
    # then
    attempt.request.refresh_from_db()
    assert (attempt.request.status, attempt.request.reason_code) == ("completed", "visitor_hung_up")


def test_a_call_that_ended_while_the_link_was_down_is_closed(enterprise: Enterprise, node: AsteriskNode) -> None:
    attempt = _connected_attempt(enterprise, node, "call-3")
    Applier().handle(_LinkUp(node.pk, uptime=3600, live_channels=(), at=timezone.now()))
    attempt.refresh_from_db()
    attempt.request.refresh_from_db()
    assert attempt.status == "ended"
    assert (attempt.request.status, attempt.request.reason_code) == ("completed", "node_lost")


def test_a_link_blip_taken_up_late_behind_a_backlog_is_not_a_restart(
    enterprise: Enterprise, node: AsteriskNode
) -> None:
    # given: a call still up; the login's Uptime was read 10 s before the applier, busy with a backlog, gets to it
    attempt = _connected_attempt(enterprise, node, "call-4")
    channels = (
        _event("CoreShowChannel", Uniqueid="call-4", Linkedid="call-4", Channel="Local/8613800001100@o-1;1"),
        _event("CoreShowChannel", Uniqueid="call-4-2", Linkedid="call-4", Channel="Local/8613800001100@o-1;2"),
    )
    reported_at = timezone.now() - timedelta(seconds=10)
    uptime = int((reported_at - node.booted_at).total_seconds())
    # when
    Applier().handle(_LinkUp(node.pk, uptime=uptime, live_channels=channels, at=reported_at))
    # then: the same boot, so the call is followed on, not ended as a restart
    attempt.refresh_from_db()
    attempt.request.refresh_from_db()
    assert attempt.status == "connected"
    assert attempt.request.status == "connected"


def test_a_call_answered_and_bridged_while_the_link_was_down_is_caught_up_on_and_followed_to_its_end(
    enterprise: Enterprise, node: AsteriskNode
) -> None:
    # given: we last saw the enterprise's phone ringing; Asterisk now lists the call bridged (the first ;1 Up and
    # in a bridge), with the phones' own trunk channels beside the two Local pairs
    attempt = _live_attempt(enterprise, node, "call-5", connected=False)
    bridge = {"BridgeId": "b-1"}
    up = {"ChannelState": "6", "ChannelStateDesc": "Up"}
    listed = [
        ("call-5", "Local/8613800001100@huibo-outbound-00000001;1", {**up, **bridge}),
        ("call-5-2", "Local/8613800001100@huibo-outbound-00000001;2", up),
        ("t-1", "PJSIP/huibo-trunk-00000001", up),
        ("v-1", "Local/8613900001100@huibo-outbound-00000002;1", {**up, **bridge}),
        ("v-2", "Local/8613900001100@huibo-outbound-00000002;2", up),
        ("t-2", "PJSIP/huibo-trunk-00000002", up),
    ]
    channels = tuple(
        _event("CoreShowChannel", Uniqueid=uniqueid, Linkedid="call-5", Channel=name, **fields)
        for uniqueid, name, fields in listed
    )
    applier = Applier()
    # when
    applier.handle(_LinkUp(node.pk, uptime=3600, live_channels=channels, at=timezone.now()))
    # then
    attempt.request.refresh_from_db()
    assert attempt.request.status == "connected"
    # and when the visitor hangs up first, then the rest
    for uniqueid, name, _fields in (listed[5], listed[4], listed[3], listed[2], listed[0], listed[1]):
        applier.handle(
            _Event(node.pk, _event("Hangup", Uniqueid=uniqueid, Linkedid="call-5", Channel=name, Cause="16"))
        )
    attempt.request.refresh_from_db()
    assert (attempt.request.status, attempt.request.reason_code) == ("completed", "visitor_hung_up")
    assert set(attempt.legs.values_list("role", "disposition")) == {("enterprise", "answered"), ("visitor", "answered")}


def test_after_a_restart_a_call_placed_on_the_new_boot_before_we_logged_in_again_is_followed(
    enterprise: Enterprise, node: AsteriskNode
) -> None:
    # given: Asterisk booted again 10 s ago; a worker placed a call on it 5 s ago, before the listener was back
    gone = _connected_attempt(enterprise, node, "call-6")
    placed_since = _live_attempt(enterprise, node, "call-7", connected=False)
    CallAttempt.objects.filter(pk=placed_since.pk).update(originate_sent_at=timezone.now() - timedelta(seconds=5))
    ringing = {"ChannelState": "5", "ChannelStateDesc": "Ringing"}
    channels = (
        _event("CoreShowChannel", Uniqueid="call-7", Linkedid="call-7", Channel="Local/8613800001100@o-1;1", **ringing),
        _event(
            "CoreShowChannel", Uniqueid="call-7-2", Linkedid="call-7", Channel="Local/8613800001100@o-1;2", **ringing
        ),
    )
    # when
    Applier().handle(_LinkUp(node.pk, uptime=10, live_channels=channels, at=timezone.now()))
    # then: the call from before the boot ended with it; the new one rings on
    gone.request.refresh_from_db()
    placed_since.refresh_from_db()
    assert (gone.request.status, gone.request.reason_code) == ("completed", "asterisk_restarted")
    assert placed_since.status == "originated"


def test_a_call_that_ended_unseen_is_recorded_up_to_when_the_link_was_lost(
    enterprise: Enterprise, node: AsteriskNode
) -> None:
    # given: a call connected 30 s ago; the link to its node was lost 10 s ago, and the call is gone when it is back
    from callback.services import nodes as node_services

    attempt = _connected_attempt(enterprise, node, "call-8")
    node_services.node_mark_down(node=node, reason="link lost")
    lost_at = timezone.now() - timedelta(seconds=10)
    AsteriskNode.objects.filter(pk=node.pk).update(ami_state_changed_at=lost_at)
    # when
    Applier().handle(_LinkUp(node.pk, uptime=3600, live_channels=(), at=timezone.now()))
    # then: both legs are on record from their answer to the loss of the link (what is certain), no further
    legs = {leg.role: leg for leg in attempt.legs.all()}
    assert set(legs) == {"enterprise", "visitor"}
    assert all(leg.disposition == "answered" and leg.ended_at == lost_at for leg in legs.values())
    assert legs["visitor"].answered_at == attempt.connected_at
    attempt.request.refresh_from_db()
    assert (attempt.request.status, attempt.request.reason_code) == ("completed", "node_lost")
    # and the call detail records bill those 20 s of each leg
    from cdr.services import cdr_record_attempt

    assert sorted(r.billable_seconds for r in cdr_record_attempt(attempt_id=attempt.pk)) == [20, 20]


def test_a_call_still_being_placed_is_not_taken_for_gone(enterprise: Enterprise, node: AsteriskNode) -> None:
    # given: a worker began placing a call 10 s ago and is still waiting to send its Originate (its own link is
    # logging in again after the same blip)
    placing = _live_attempt(enterprise, node, "call-9", connected=False)
    CallAttempt.objects.filter(pk=placing.pk).update(
        status=CallAttempt.Status.PLACING, originate_sent_at=timezone.now() - timedelta(seconds=10)
    )
    # when Asterisk, asked after our own login, lists no channel of it yet
    Applier().handle(_LinkUp(node.pk, uptime=3600, live_channels=(), at=timezone.now()))
    # then it is left to its worker: its Originate may go out in a moment
    placing.refresh_from_db()
    assert placing.status == "placing"
