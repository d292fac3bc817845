"""The transition table, exhaustively: every (state, event, order) is either the listed move or refused."""

import itertools

import pytest

from callback.statemachine import (
    FINAL_STATUSES,
    CallOrder,
    Event,
    IllegalTransition,
    Status,
    allowed_events,
    next_state,
)

S, E = Status, Event
ENTERPRISE_FIRST_MOVES = {
    (S.ACCEPTED, E.SCHEDULE): S.SCHEDULED,
    (S.ACCEPTED, E.PLACE): S.DIALING_ENTERPRISE,
    (S.ACCEPTED, E.CANCEL): S.CANCELLED,
    (S.ACCEPTED, E.EXPIRE): S.EXPIRED,
    (S.SCHEDULED, E.SCHEDULE): S.SCHEDULED,
    (S.SCHEDULED, E.PLACE): S.DIALING_ENTERPRISE,
    (S.SCHEDULED, E.CANCEL): S.CANCELLED,
    (S.SCHEDULED, E.EXPIRE): S.EXPIRED,
    (S.DIALING_ENTERPRISE, E.PLACE): S.DIALING_ENTERPRISE,
    (S.DIALING_ENTERPRISE, E.SCHEDULE): S.SCHEDULED,
    (S.DIALING_ENTERPRISE, E.FIRST_ANSWERED): S.ENTERPRISE_ANSWERED,
    (S.ENTERPRISE_ANSWERED, E.SECOND_DIALING): S.DIALING_VISITOR,
    (S.ENTERPRISE_ANSWERED, E.PLACE): S.DIALING_ENTERPRISE,
    (S.ENTERPRISE_ANSWERED, E.SCHEDULE): S.SCHEDULED,
    (S.DIALING_VISITOR, E.SECOND_ANSWERED): S.CONNECTED,
    (S.DIALING_VISITOR, E.SCHEDULE): S.SCHEDULED,
    (S.CONNECTED, E.HANG_UP): S.COMPLETED,
} | {(state, E.FAIL): S.FAILED for state in Status if state not in FINAL_STATUSES}


def _mirror(status: Status) -> Status:
    swap = {
        S.DIALING_ENTERPRISE: S.DIALING_VISITOR,
        S.DIALING_VISITOR: S.DIALING_ENTERPRISE,
        S.ENTERPRISE_ANSWERED: S.VISITOR_ANSWERED,
        S.VISITOR_ANSWERED: S.ENTERPRISE_ANSWERED,
    }
    return swap.get(status, status)


VISITOR_FIRST_MOVES = {(_mirror(s), e): _mirror(t) for (s, e), t in ENTERPRISE_FIRST_MOVES.items()}


@pytest.mark.parametrize(
    ("order", "moves"),
    [(CallOrder.ENTERPRISE_FIRST, ENTERPRISE_FIRST_MOVES), (CallOrder.VISITOR_FIRST, VISITOR_FIRST_MOVES)],
)
def test_every_state_and_event_is_either_the_listed_move_or_refused(
    order: CallOrder, moves: dict[tuple[Status, Event], Status]
) -> None:
    for state, event in itertools.product(Status, Event):
        if (state, event) in moves:
            assert next_state(state, event, order) == moves[(state, event)]
        else:
            with pytest.raises(IllegalTransition):
                next_state(state, event, order)


def test_final_states_accept_no_event() -> None:
    for order in CallOrder:
        for state in FINAL_STATUSES:
            assert allowed_events(state, order) == frozenset()


def test_happy_path_enterprise_first() -> None:
    state = S.ACCEPTED
    for event in (E.PLACE, E.FIRST_ANSWERED, E.SECOND_DIALING, E.SECOND_ANSWERED, E.HANG_UP):
        state = next_state(state, event)
    assert state is S.COMPLETED


def test_visitor_first_rings_the_visitor_before_the_enterprise() -> None:
    assert next_state(S.ACCEPTED, E.PLACE, CallOrder.VISITOR_FIRST) is S.DIALING_VISITOR
    assert next_state(S.VISITOR_ANSWERED, E.SECOND_DIALING, CallOrder.VISITOR_FIRST) is S.DIALING_ENTERPRISE


def test_a_call_cannot_complete_without_being_connected() -> None:
    with pytest.raises(IllegalTransition, match="hang_up is not allowed in state dialing_visitor"):
        next_state(S.DIALING_VISITOR, E.HANG_UP)
