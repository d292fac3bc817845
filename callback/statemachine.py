"""The call state machine of a CallbackRequest: rules only, no ORM and no AMI.

Lifecycle (enterprise first, the default)::

    accepted ─┬─> dialing_enterprise ─> enterprise_answered ─> dialing_visitor ─> connected ─> completed
              └─> scheduled ──┘   (outside working hours, or a retry after the visitor did not answer)

Visitor first is the mirror image: dialing_visitor ─> visitor_answered ─> dialing_enterprise ─> connected.
Hunting the next bound number re-enters ``dialing_<first>`` (a new attempt), also from ``<first>_answered``
when an agent answered but did not confirm. Any
non-final state may end in ``failed``; a request that has not reached a phone yet may be
``cancelled`` or ``expired``. Final states never change again.
"""

from enum import StrEnum


class CallOrder(StrEnum):
    ENTERPRISE_FIRST = "enterprise_first"
    VISITOR_FIRST = "visitor_first"


class Status(StrEnum):
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    DIALING_ENTERPRISE = "dialing_enterprise"
    ENTERPRISE_ANSWERED = "enterprise_answered"
    DIALING_VISITOR = "dialing_visitor"
    VISITOR_ANSWERED = "visitor_answered"
    CONNECTED = "connected"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


FINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.EXPIRED})
# States in which a phone may be ringing or talking for this request.
ON_THE_LINE_STATUSES = frozenset(
    {
        Status.DIALING_ENTERPRISE,
        Status.ENTERPRISE_ANSWERED,
        Status.DIALING_VISITOR,
        Status.VISITOR_ANSWERED,
        Status.CONNECTED,
    }
)


class Event(StrEnum):
    SCHEDULE = "schedule"  # wait: outside working hours, or a retry later
    PLACE = "place"  # an Originate for the first leg (possibly the next bound number)
    FIRST_ANSWERED = "first_answered"
    SECOND_DIALING = "second_dialing"
    SECOND_ANSWERED = "second_answered"  # both legs up and bridged
    HANG_UP = "hang_up"  # a connected call ended normally
    FAIL = "fail"
    CANCEL = "cancel"
    EXPIRE = "expire"


class IllegalTransition(Exception):
    def __init__(self, current: Status, event: Event) -> None:
        super().__init__(f"{event.value} is not allowed in state {current.value}")
        self.current = current
        self.event = event


def _states_for(order: CallOrder) -> tuple[Status, Status, Status, Status]:
    """(dialing first, first answered, dialing second, second answered) for a call order."""
    if order is CallOrder.ENTERPRISE_FIRST:
        return Status.DIALING_ENTERPRISE, Status.ENTERPRISE_ANSWERED, Status.DIALING_VISITOR, Status.VISITOR_ANSWERED
    return Status.DIALING_VISITOR, Status.VISITOR_ANSWERED, Status.DIALING_ENTERPRISE, Status.ENTERPRISE_ANSWERED


def _table(order: CallOrder) -> dict[tuple[Status, Event], Status]:
    dialing_first, first_answered, dialing_second, _unused = _states_for(order)
    waiting = (Status.ACCEPTED, Status.SCHEDULED)
    table: dict[tuple[Status, Event], Status] = {}
    for state in waiting:
        table[(state, Event.SCHEDULE)] = Status.SCHEDULED
        table[(state, Event.PLACE)] = dialing_first
        table[(state, Event.CANCEL)] = Status.CANCELLED
        table[(state, Event.EXPIRE)] = Status.EXPIRED
    table[(dialing_first, Event.PLACE)] = dialing_first  # hunting: the next bound number
    table[(dialing_first, Event.SCHEDULE)] = Status.SCHEDULED  # retry later
    table[(dialing_first, Event.FIRST_ANSWERED)] = first_answered
    table[(first_answered, Event.SECOND_DIALING)] = dialing_second
    table[(first_answered, Event.PLACE)] = dialing_first  # the agent did not confirm: the next bound number
    table[(first_answered, Event.SCHEDULE)] = Status.SCHEDULED
    table[(dialing_second, Event.SECOND_ANSWERED)] = Status.CONNECTED
    table[(dialing_second, Event.SCHEDULE)] = Status.SCHEDULED  # the second party did not answer: retry
    table[(Status.CONNECTED, Event.HANG_UP)] = Status.COMPLETED
    for state in Status:
        if state not in FINAL_STATUSES:
            table[(state, Event.FAIL)] = Status.FAILED
    return table


_TABLES = {order: _table(order) for order in CallOrder}


def next_state(current: Status, event: Event, order: CallOrder = CallOrder.ENTERPRISE_FIRST) -> Status:
    """The state after ``event`` in ``current``, or IllegalTransition."""
    try:
        return _TABLES[order][(current, event)]
    except KeyError:
        raise IllegalTransition(current, event) from None


def allowed_events(current: Status, order: CallOrder = CallOrder.ENTERPRISE_FIRST) -> frozenset[Event]:
    return frozenset(event for (state, event) in _TABLES[order] if state == current)
