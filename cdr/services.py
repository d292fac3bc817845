"""Writing CDRs from finished attempts, and the tenant's recording choice.

Lifecycle: every ended attempt reaches ``cdr_record_attempt`` through the engine's Celery hand-off
(callback.tasks.attempt_finished), possibly more than once. In one transaction it writes one CDR per leg (the
unique key enterprise + Linkedid + leg wins every race, R5), rates each leg with the tenant's plan, writes the
call's summary, and settles the call's reservation through billing (one ledger entry per CDR, keyed by it).
Running it again changes no money; it only fills in what arrived late (an Asterisk Cdr, the recording file).
After the commit, a connected call triggers billing's pumping check (S7).

Asterisk's Cdr events (kept raw on the attempt) are matched to legs by channel: a leg's phone is the ``;2`` half
of ``Local/<digits>@…``. Their BillableSeconds (whole seconds) and EndTime (whole seconds, the Asterisk server's
local time) are compared with the engine's own timing, which is what is billed: it is there at the hand-off, so a
late Cdr never changes a charge. A disagreement beyond CDR_TIMING_TOLERANCE_SECONDS is logged as
``cdr.timing_mismatch`` and kept on the CDR (``timing_mismatch_seconds``) for the console to show.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing import services as billing_services
from billing.services.calls import LegCharge
from callback import selectors as callback_selectors
from callback.selectors import FinishedAttempt, FinishedLeg
from cdr.models import CallDetailRecord, CallSummary, RecordingSetting
from integrations import services as integrations_services
from tenants.models import Enterprise

logger = logging.getLogger(__name__)

_SECOND = timedelta(seconds=1)
_RECORDING_NAME = re.compile(r"^[0-9A-Za-z._-]{1,100}\.wav$")


def _seconds(start: datetime | None, end: datetime | None) -> int:
    """Whole seconds from start to end, truncated as Asterisk does; integer arithmetic only."""
    if start is None or end is None or end <= start:
        return 0
    return (end - start) // _SECOND


@dataclass(frozen=True)
class AsteriskLeg:
    uniqueid: str
    billable_seconds: int | None
    disposition: str
    ended_at: datetime | None


def _asterisk_zone() -> ZoneInfo | None:
    name = settings.CDR_ASTERISK_TIME_ZONE
    return ZoneInfo(name) if name else None


def parse_asterisk_time(value: str) -> datetime | None:
    """A Cdr time (``2026-11-21 22:41:59``, the Asterisk server's local time) as an aware UTC datetime."""
    if not value:
        return None
    try:
        naive = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    zone = _asterisk_zone()
    local = naive.replace(tzinfo=zone) if zone else naive.astimezone()  # astimezone(): this machine's zone
    return local.astimezone(UTC)


def asterisk_leg(cdrs: tuple[dict[str, str], ...], number: str) -> AsteriskLeg | None:
    """The Cdr of the phone side (``;2``) of the Local channel that dialled ``number``; the last one if several."""
    digits = number.lstrip("+")
    found = None
    for cdr in cdrs:
        channel = cdr.get("Channel", "")
        if channel.startswith(f"Local/{digits}@") and channel.endswith(";2"):
            found = cdr
    if found is None:
        return None
    billable = found.get("BillableSeconds", "")
    return AsteriskLeg(
        uniqueid=found.get("UniqueID", "")[:64],
        billable_seconds=int(billable) if billable.isdigit() else None,
        disposition=found.get("Disposition", "")[:20],
        ended_at=parse_asterisk_time(found.get("EndTime", "")),
    )


def _reconcile(attempt: FinishedAttempt, leg: FinishedLeg, billable: int) -> dict[str, object]:
    """The Asterisk side of one leg, and whether it disagrees with the engine's timing (logged, never hidden)."""
    seen = asterisk_leg(attempt.asterisk_cdrs, leg.number)
    if seen is None:
        return {}
    fields: dict[str, object] = {
        "uniqueid": seen.uniqueid,
        "asterisk_billable_seconds": seen.billable_seconds,
        "asterisk_disposition": seen.disposition,
    }
    if seen.billable_seconds is None:
        return fields
    difference = billable - seen.billable_seconds
    end_difference = 0
    if seen.ended_at is not None and leg.ended_at is not None:
        end_difference = (leg.ended_at - seen.ended_at) // _SECOND
    fields["timing_mismatch_seconds"] = difference
    tolerance = settings.CDR_TIMING_TOLERANCE_SECONDS
    # Cdr times are truncated to the second: the end times may differ by one more second than the durations.
    if abs(difference) > tolerance or abs(end_difference) > tolerance + 1:
        logger.warning(
            "cdr.timing_mismatch enterprise=%s linkedid=%s leg=%s engine_billable=%s asterisk_billable=%s "
            "end_difference=%s",
            attempt.enterprise_id,
            attempt.linkedid,
            leg.role,
            billable,
            seen.billable_seconds,
            end_difference,
        )
    return fields


def _rate(context: billing_services.RatingContext | None, leg: FinishedLeg, billable: int) -> dict[str, object]:
    if context is None:
        return {}
    from billing.services.rerating import rate_one

    rated = rate_one(
        context,
        billing_services.LegToRate(
            role=leg.role, number=leg.number, billable_seconds=billable, answered=leg.disposition == "answered"
        ),
    )
    if rated is None:
        logger.error("cdr.unrated enterprise=%s leg=%s number=%s", context.plan_id, leg.role, leg.number)
        return {}
    return {
        "charge": rated.charge,
        "currency": context.currency,
        "billed_seconds": rated.billed_seconds,
        "destination_group": rated.destination_group,
        "tariff": rated.tariff[:80],
        "rated_at": timezone.now(),
    }


def recording_path(name: str) -> Path | None:
    """The file of a recording named on a call summary, only if it is a plain name inside CDR_RECORDINGS_DIR."""
    if not name or not _RECORDING_NAME.match(name):
        return None
    directory = Path(settings.CDR_RECORDINGS_DIR).resolve()
    path = (directory / name).resolve()
    return path if path.parent == directory and path.is_file() else None


def _recording_file(linkedid: str) -> str:
    """The dialplan's MixMonitor (and the simulator) write ``<CDR_RECORDINGS_DIR>/<Linkedid>.wav``."""
    name = f"{linkedid}.wav"
    return name if recording_path(name) is not None else ""


def _summary_fields(attempt: FinishedAttempt, requested_at: datetime | None) -> dict[str, object]:
    legs = sorted(attempt.legs, key=lambda leg: (leg.started_at != attempt.placed_at, leg.role != "enterprise"))
    numbers = {leg.role: leg.number for leg in attempt.legs}
    answered = [leg for leg in legs if leg.disposition == "answered"]
    connected = len(legs) == 2 and len(answered) == 2
    if not legs:
        failed_leg = CallSummary.FailedLeg.NOT_PLACED
    elif connected:
        failed_leg = CallSummary.FailedLeg.NONE
    elif legs[0].disposition != "answered":
        failed_leg = legs[0].role
    else:
        failed_leg = legs[1].role if len(legs) > 1 else ("visitor" if legs[0].role == "enterprise" else "enterprise")
    connected_at = max(leg.answered_at for leg in answered if leg.answered_at) if connected and answered else None
    ended_at = max((leg.ended_at for leg in legs if leg.ended_at), default=None)
    return {
        "enterprise_id": attempt.enterprise_id,
        "callback_request_id": attempt.request_id,
        "attempt_id": attempt.attempt_id,
        "node_name": attempt.node_name,
        "enterprise_number": numbers.get("enterprise", ""),
        "visitor_number": numbers.get("visitor", ""),
        "requested_at": requested_at,
        "placed_at": attempt.placed_at,
        "first_answered_at": attempt.first_answered_at,
        "connected_at": connected_at,
        "ended_at": ended_at or attempt.placed_at,
        "connected": connected,
        "failed_leg": failed_leg,
        "talk_seconds": _seconds(connected_at, ended_at) if connected else 0,
    }


def _second_leg_start(attempt: FinishedAttempt, leg: FinishedLeg) -> datetime | None:
    """The engine had no first-answer time (the listener missed the OriginateResponse): the second leg started
    ringing when the first leg answered, as that leg reported it."""
    others = [other.answered_at for other in attempt.legs if other is not leg and other.answered_at is not None]
    return min(others, default=None) or attempt.placed_at


def _requested_at(attempt: FinishedAttempt) -> datetime | None:
    enterprise = Enterprise.objects.get(pk=attempt.enterprise_id)
    return (
        callback_selectors.callback_requests_of(enterprise=enterprise)
        .filter(pk=attempt.request_id)
        .values_list("created_at", flat=True)
        .first()
    )


def cdr_record_attempt(*, attempt_id: int) -> list[CallDetailRecord]:
    """One CDR per leg of a finished attempt, its summary and its settlement; running it again changes nothing."""
    attempt = callback_selectors.finished_attempt(attempt_id=attempt_id)
    if attempt is None:
        logger.warning("cdr.attempt_not_finished attempt=%s", attempt_id)
        return []
    requested_at = _requested_at(attempt)
    context = billing_services.rating_context_for(enterprise_id=attempt.enterprise_id)
    records = []
    with transaction.atomic():
        for leg in attempt.legs:
            started_at = leg.started_at or _second_leg_start(attempt, leg)
            billable = _seconds(leg.answered_at, leg.ended_at) if leg.disposition == "answered" else 0
            reconciled = _reconcile(attempt, leg, billable)
            record, created = CallDetailRecord.objects.get_or_create(
                enterprise_id=attempt.enterprise_id,
                linkedid=attempt.linkedid,
                role=leg.role,
                defaults={
                    "callback_request_id": attempt.request_id,
                    "attempt_id": attempt.attempt_id,
                    "number": leg.number,
                    "node_name": attempt.node_name,
                    "started_at": started_at,
                    "answered_at": leg.answered_at,
                    "ended_at": leg.ended_at or attempt.placed_at,
                    "duration_seconds": _seconds(started_at, leg.ended_at),
                    "billable_seconds": billable,
                    "disposition": leg.disposition,
                    "hangup_cause": leg.hangup_cause,
                    **reconciled,
                    **_rate(context, leg, billable),
                },
            )
            if not created and reconciled and record.asterisk_billable_seconds is None:
                # A Cdr that arrived after the first run: fill in Asterisk's side; the charge stays as billed.
                CallDetailRecord.objects.filter(pk=record.pk).update(**reconciled)
                record.refresh_from_db()
            records.append(record)
        summary_fields = _summary_fields(attempt, requested_at)
        rated = [record.charge for record in records if record.charge is not None]
        summary_fields["charge"] = sum(rated) if rated else None
        summary_fields["currency"] = context.currency if context else ""
        summary, created = CallSummary.objects.get_or_create(
            enterprise_id=attempt.enterprise_id,
            linkedid=attempt.linkedid,
            defaults={**summary_fields, "recording_file": _recording_file(attempt.linkedid) if records else ""},
        )
        if not created and summary.connected and not summary.recording_file:
            recording = _recording_file(attempt.linkedid)
            if recording:
                CallSummary.objects.filter(pk=summary.pk).update(recording_file=recording)
        billing_services.call_settle(
            enterprise_id=attempt.enterprise_id,
            reservation_key=attempt.linkedid,
            charges=[
                LegCharge(key=f"cdr:{record.pk}", amount=record.charge, reference=f"cdr:{record.pk}")
                for record in records
                if record.charge is not None
            ],
        )
    if created and summary.connected:
        billing_services.pumping_check(enterprise_id=attempt.enterprise_id)
    logger.info("cdr.recorded attempt=%s linkedid=%s legs=%s", attempt_id, attempt.linkedid, len(records))
    integrations_services.cdr_ready_published(enterprise_id=attempt.enterprise_id, records=records)
    return records


def cdrs_reconcile_recent(*, now: datetime | None = None, window: timedelta = timedelta(hours=2)) -> int:
    """Run ingestion again for recent calls still missing an Asterisk Cdr or a recording (late arrivals)."""
    now = now or timezone.now()
    since = now - window
    missing_cdr = CallDetailRecord.objects.filter(
        ended_at__gte=since, asterisk_billable_seconds__isnull=True
    ).values_list("attempt_id", flat=True)
    missing_recording = CallSummary.objects.filter(
        ended_at__gte=since, connected=True, recording_file="", enterprise__recording_setting__enabled=True
    ).values_list("attempt_id", flat=True)
    attempt_ids = sorted(set(missing_cdr[:500]) | set(missing_recording[:500]))
    for attempt_id in attempt_ids:
        cdr_record_attempt(attempt_id=attempt_id)
    return len(attempt_ids)


def recording_set(*, enterprise: Enterprise, enabled: bool, notice: str = "") -> RecordingSetting:
    """Turn call recording on or off for a tenant; while on, visitors are told before they press Call."""
    setting, _created = RecordingSetting.objects.update_or_create(
        enterprise=enterprise, defaults={"enabled": enabled, "notice": notice.strip()[:300]}
    )
    logger.info("cdr.recording.set enterprise=%s enabled=%s", enterprise.pk, enabled)
    return setting
