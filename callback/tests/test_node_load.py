"""A node's load as counters (callback.services.nodes): placing takes a slot, ending gives it back, never past capacity.

Placed with a recording gateway in place of AMI, as in test_engine_services.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.db import connection

from callback.facts import AttemptEnded, Disposition, LegReport
from callback.models import AsteriskNode, CallAttempt, CallbackRequest, NodeCallsEnded
from callback.services import nodes, outcomes, placement, requests
from callback.tests.test_engine_services import RecordingGateway
from conftest import make_enterprise
from tenants.models import Enterprise

NUMBERS = tuple(f"+861380{i:02d}01100" for i in range(12))


def _node(name: str, capacity: int) -> AsteriskNode:
    return AsteriskNode.objects.create(
        name=name, host="127.0.0.1", username="huibo", secret="s", channel_capacity=capacity
    )


def _load(node: AsteriskNode) -> int:
    ended = NodeCallsEnded.objects.filter(node=node).values_list("calls_ended", flat=True).first() or 0
    return AsteriskNode.objects.get(pk=node.pk).calls_placed - ended


def _place(enterprise: Enterprise, visitor: str, gateway: RecordingGateway) -> CallbackRequest:
    request = requests.callback_request_create(enterprise=enterprise, visitor_number=visitor)
    placement.attempt_place(request_id=request.pk, attempt_number=1, gateway=gateway)
    request.refresh_from_db()
    return request


@pytest.mark.django_db
def test_a_full_node_takes_no_more_calls_and_the_next_goes_through_another() -> None:
    # given two nodes with room for one call each
    first, second = _node("pbx-1", 1), _node("pbx-2", 1)
    enterprise = make_enterprise("load", numbers=NUMBERS[:3], max_concurrent_calls=3)
    gateway = RecordingGateway()
    # when three callbacks are placed
    placed = [_place(enterprise, f"+861390000{i}005", gateway) for i in range(3)]
    # then one goes through each node, and the third has nowhere to go
    assert [name for name, _sent in gateway.sent] == ["pbx-1", "pbx-2"]
    assert [(r.status, r.reason_code) for r in placed][2] == ("failed", "no_node_available")
    assert (_load(first), _load(second)) == (1, 1)


@pytest.mark.django_db
def test_a_call_that_ended_gives_its_slot_back() -> None:
    # given a node with room for one call, which a callback holds
    node = _node("pbx-1", 1)
    enterprise = make_enterprise("load", numbers=NUMBERS[:2], max_concurrent_calls=2)
    gateway = RecordingGateway()
    _place(enterprise, "+8613900001005", gateway)
    attempt = CallAttempt.objects.get()
    # when Asterisk reports the call over (twice, as a replayed event would)
    fact = AttemptEnded(
        channel_id=attempt.channel_id, at=datetime.now(UTC), first=LegReport(Disposition.BUSY), second=None
    )
    assert outcomes.attempt_ended(fact) is True
    assert outcomes.attempt_ended(fact) is False
    # then the slot is free once, and the next callback goes through the node
    assert _load(node) == 0
    assert _place(enterprise, "+8613900001006", gateway).status == "dialing_enterprise"
    assert _load(node) == 1


@pytest.mark.django_db
def test_node_load_is_put_right_after_attempt_rows_were_deleted_by_hand() -> None:
    # given two calls up on a node, and one attempt row deleted from the database
    node = _node("pbx-1", 5)
    enterprise = make_enterprise("load", numbers=NUMBERS[:2], max_concurrent_calls=2)
    gateway = RecordingGateway()
    _place(enterprise, "+8613900001005", gateway)
    _place(enterprise, "+8613900001006", gateway)
    CallAttempt.objects.filter(number=1).order_by("id").first().delete()  # type: ignore[union-attr]
    assert _load(node) == 2
    # when the reaper's reconciliation runs (twice)
    # then the first puts the load back to the one live attempt, the second finds nothing to do
    assert nodes.node_slots_reconcile() == 1
    assert _load(node) == 1
    assert nodes.node_slots_reconcile() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_parallel_placements_never_put_a_node_past_its_capacity() -> None:
    # given a node with room for 3 calls and 12 callbacks of 12 enterprises, due at once
    node = _node("pbx-1", 3)
    ids = [
        requests.callback_request_create(
            enterprise=make_enterprise(f"load-{i}", numbers=(NUMBERS[i],)), visitor_number=f"+8613900{i:02d}1005"
        ).pk
        for i in range(12)
    ]
    gateway = RecordingGateway()

    def place(request_id: int) -> None:
        try:
            placement.attempt_place(request_id=request_id, attempt_number=1, gateway=gateway)
        finally:
            connection.close()

    # when eight workers place them at the same time
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(place, ids))
    # then exactly three calls went out, and the others failed saying why
    assert len(gateway.sent) == 3
    assert CallAttempt.objects.count() == 3
    assert CallbackRequest.objects.filter(reason_code="no_node_available").count() == 9
    assert _load(node) == 3
