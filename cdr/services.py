"""Writing CDRs from finished attempts. Idempotent: the unique key (enterprise, Linkedid, leg) wins every race."""

import logging
from datetime import datetime

from callback import selectors as callback_selectors
from cdr.models import CallDetailRecord

logger = logging.getLogger(__name__)


def _seconds(start: datetime | None, end: datetime | None) -> int:
    return max(0, int((end - start).total_seconds())) if start and end else 0


def cdr_record_attempt(*, attempt_id: int) -> list[CallDetailRecord]:
    """One CDR per leg of a finished attempt; running it again changes nothing."""
    attempt = callback_selectors.finished_attempt(attempt_id=attempt_id)
    if attempt is None:
        logger.warning("cdr.attempt_not_finished attempt=%s", attempt_id)
        return []
    records = []
    for leg in attempt.legs:
        record, _created = CallDetailRecord.objects.get_or_create(
            enterprise_id=attempt.enterprise_id,
            linkedid=attempt.linkedid,
            role=leg.role,
            defaults={
                "callback_request_id": attempt.request_id,
                "attempt_id": attempt.attempt_id,
                "number": leg.number,
                "node_name": attempt.node_name,
                "started_at": leg.started_at,
                "answered_at": leg.answered_at,
                "ended_at": leg.ended_at,
                "duration_seconds": _seconds(leg.started_at, leg.ended_at),
                "billable_seconds": _seconds(leg.answered_at, leg.ended_at),
                "disposition": leg.disposition,
                "hangup_cause": leg.hangup_cause,
            },
        )
        records.append(record)
    return records
