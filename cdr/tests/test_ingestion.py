"""CDR ingestion from the engine's hand-off: one CDR per leg whatever arrives twice, late or out of order (R5),
rated and settled once, reconciled with Asterisk's Cdr events."""

import logging
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from billing import selectors as billing_selectors
from billing.models import FraudAlert, LedgerEntry, Reservation
from billing.tests.helpers import billed_enterprise, end_call, place_call
from callback.facts import CdrReported, Disposition
from callback.models import CallAttempt
from callback.services import outcomes
from cdr.models import CallDetailRecord, CallSummary
from cdr.services import cdr_record_attempt, cdrs_reconcile_recent, parse_asterisk_time
from conftest import make_enterprise
from tenants.models import Enterprise

D = Decimal
pytestmark = pytest.mark.django_db


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def asterisk_cdr(
    number: str, *, uniqueid: str, billable: int, ended: datetime, disposition: str = "ANSWERED"
) -> dict[str, str]:
    """What cdr_manager sends for the phone side of ``Local/<number>@huibo-outbound``."""
    return {
        "Channel": f"Local/{number.lstrip('+')}@huibo-outbound-0000000{len(uniqueid) % 9};2",
        "UniqueID": uniqueid,
        "BillableSeconds": str(billable),
        "Duration": str(billable + 2),
        "Disposition": disposition,
        "EndTime": _local(ended),
        "StartTime": _local(ended - timedelta(seconds=billable + 2)),
        "AnswerTime": _local(ended - timedelta(seconds=billable)),
    }


def _connected_call(enterprise: Enterprise, *, talk: int = 30, with_cdrs: bool = True) -> CallAttempt:
    """The enterprise answers 2 s after the Originate, the visitor 3 s later; they talk ``talk`` seconds."""
    attempt = place_call(enterprise)
    assert attempt is not None
    attempt.refresh_from_db()
    end = attempt.originate_sent_at + timedelta(seconds=5 + talk)
    cdrs = (
        (
            asterisk_cdr(
                attempt.enterprise_number, uniqueid=f"{attempt.channel_id[:-2]}-2", billable=talk + 3, ended=end
            ),
            asterisk_cdr(attempt.visitor_number, uniqueid="1795300913.7", billable=talk, ended=end),
        )
        if with_cdrs
        else ()
    )
    end_call(attempt, talk_seconds=talk, cdrs=cdrs)
    return attempt


def test_a_connected_call_makes_one_rated_cdr_per_leg_and_a_summary(enterprise: Enterprise) -> None:
    # given a billed tenant (enterprise leg mobile 0.12/min, visitor 139 at 0.20/min + 0.05, 6/6)
    billed_enterprise(enterprise, top_up="10")
    attempt = _connected_call(enterprise, talk=30)
    # when
    records = cdr_record_attempt(attempt_id=attempt.pk)
    # then
    by_leg = {record.role: record for record in records}
    assert set(by_leg) == {"enterprise", "visitor"}
    enterprise_leg, visitor_leg = by_leg["enterprise"], by_leg["visitor"]
    assert (enterprise_leg.billable_seconds, enterprise_leg.billed_seconds, enterprise_leg.charge) == (
        33,
        36,
        D("0.072"),
    )
    assert (visitor_leg.billable_seconds, visitor_leg.billed_seconds, visitor_leg.charge) == (30, 30, D("0.15"))
    assert visitor_leg.destination_group == "China Mobile 139"
    assert (enterprise_leg.linkedid, enterprise_leg.node_name) == (attempt.channel_id, "pbx-1")
    assert enterprise_leg.uniqueid == f"{attempt.channel_id[:-2]}-2" and visitor_leg.uniqueid == "1795300913.7"
    assert (visitor_leg.asterisk_billable_seconds, visitor_leg.timing_mismatch_seconds) == (30, 0)
    summary = CallSummary.objects.get()
    assert (summary.connected, summary.talk_seconds, summary.charge, summary.failed_leg) == (True, 30, D("0.222"), "")
    assert summary.requested_at is not None and summary.requested_at <= summary.placed_at
    # and the reservation is settled at the real charge
    assert Reservation.objects.get(key=attempt.channel_id).status == "settled"
    assert billing_selectors.funds_for(enterprise=enterprise).balance == D("9.778")


def test_the_hand_off_running_twice_changes_nothing(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="10")
    attempt = _connected_call(enterprise)
    first = cdr_record_attempt(attempt_id=attempt.pk)
    entries = LedgerEntry.objects.count()
    second = cdr_record_attempt(attempt_id=attempt.pk)
    assert [r.pk for r in first] == [r.pk for r in second]
    assert CallDetailRecord.objects.count() == 2 and CallSummary.objects.count() == 1
    assert LedgerEntry.objects.count() == entries


def test_a_cdr_event_repeated_by_asterisk_makes_no_second_cdr(enterprise: Enterprise) -> None:
    attempt = place_call(enterprise)
    attempt.refresh_from_db()
    end = attempt.originate_sent_at + timedelta(seconds=35)
    cdr = asterisk_cdr(attempt.visitor_number, uniqueid="1795300913.7", billable=30, ended=end)
    end_call(attempt, talk_seconds=30, cdrs=(cdr, dict(cdr)))
    cdr_record_attempt(attempt_id=attempt.pk)
    assert CallDetailRecord.objects.filter(role="visitor").count() == 1


def test_a_late_cdr_is_filled_in_without_changing_the_charge(enterprise: Enterprise) -> None:
    """The call's last Hangup comes before its Cdr events: the hand-off runs with no Cdr, the Cdr follows."""
    # given
    billed_enterprise(enterprise, top_up="10")
    attempt = _connected_call(enterprise, with_cdrs=False)
    cdr_record_attempt(attempt_id=attempt.pk)
    visitor_leg = CallDetailRecord.objects.get(role="visitor")
    assert visitor_leg.asterisk_billable_seconds is None
    # when Asterisk's Cdr arrives (in a different order from the legs), and the sweep runs
    attempt.refresh_from_db()
    end = attempt.ended_at
    for number, uniqueid, billable in ((attempt.visitor_number, "9.7", 30), (attempt.enterprise_number, "9.5", 33)):
        outcomes.attempt_cdr_add(
            CdrReported(
                channel_id=attempt.channel_id, cdr=asterisk_cdr(number, uniqueid=uniqueid, billable=billable, ended=end)
            )
        )
    assert cdrs_reconcile_recent() == 1
    # then
    visitor_leg.refresh_from_db()
    assert (visitor_leg.uniqueid, visitor_leg.asterisk_billable_seconds, visitor_leg.charge) == ("9.7", 30, D("0.15"))
    assert CallDetailRecord.objects.count() == 2
    assert LedgerEntry.objects.filter(kind="charge").count() == 2
    assert cdrs_reconcile_recent() == 0


def test_an_asterisk_timing_that_disagrees_is_logged_and_kept(enterprise: Enterprise, caplog) -> None:  # type: ignore[no-untyped-def]
    attempt = place_call(enterprise)
    attempt.refresh_from_db()
    end = attempt.originate_sent_at + timedelta(seconds=35)
    cdrs = (asterisk_cdr(attempt.visitor_number, uniqueid="1.7", billable=25, ended=end),)
    end_call(attempt, talk_seconds=30, cdrs=cdrs)
    with caplog.at_level(logging.WARNING, logger="cdr.services"):
        cdr_record_attempt(attempt_id=attempt.pk)
    visitor_leg = CallDetailRecord.objects.get(role="visitor")
    assert (visitor_leg.billable_seconds, visitor_leg.asterisk_billable_seconds) == (30, 25)
    assert visitor_leg.timing_mismatch_seconds == 5
    assert "cdr.timing_mismatch" in caplog.text and attempt.channel_id in caplog.text


def test_asterisk_times_are_read_in_the_asterisk_servers_zone(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CDR_ASTERISK_TIME_ZONE = "Asia/Shanghai"
    assert parse_asterisk_time("2026-11-21 22:41:59").isoformat() == "2026-11-21T14:41:59+00:00"
    assert parse_asterisk_time("garbage") is None


def test_a_visitor_who_does_not_answer_costs_only_the_enterprise_leg(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="10")
    attempt = place_call(enterprise)
    end_call(attempt, visitor_disposition=Disposition.NO_ANSWER)
    cdr_record_attempt(attempt_id=attempt.pk)
    charges = dict(CallDetailRecord.objects.values_list("role", "charge"))
    assert charges == {"enterprise": D("0.036"), "visitor": D("0")}  # 18 s answered, waiting for the visitor
    summary = CallSummary.objects.get()
    assert (summary.connected, summary.failed_leg) == (False, "visitor")


def test_an_enterprise_that_is_busy_releases_the_reservation(enterprise: Enterprise) -> None:
    billed_enterprise(enterprise, top_up="10")
    attempt = place_call(enterprise)
    end_call(attempt, enterprise_disposition=Disposition.BUSY, visitor_disposition=None)
    cdr_record_attempt(attempt_id=attempt.pk)
    assert Reservation.objects.get(key=attempt.channel_id).status == "released"
    assert not LedgerEntry.objects.filter(kind="charge").exists()
    assert CallSummary.objects.get().failed_leg == "enterprise"


@pytest.mark.django_db(transaction=True)
def test_two_workers_recording_the_same_call_at_once_make_one_cdr_per_leg() -> None:
    enterprise = make_enterprise("race")
    billed_enterprise(enterprise, top_up="10")
    attempt = _connected_call(enterprise)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            cdr_record_attempt(attempt_id=attempt.pk)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert CallDetailRecord.objects.filter(enterprise=enterprise).count() == 2
    assert LedgerEntry.objects.filter(kind="charge").count() == 2
    assert billing_selectors.funds_for(enterprise=enterprise).balance == D("9.778")


def test_the_recording_written_for_the_call_is_on_its_summary(enterprise: Enterprise, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.CDR_RECORDINGS_DIR = tmp_path
    attempt = _connected_call(enterprise)
    (tmp_path / f"{attempt.channel_id}.wav").write_bytes(b"RIFF....WAVE")
    cdr_record_attempt(attempt_id=attempt.pk)
    assert CallSummary.objects.get().recording_file == f"{attempt.channel_id}.wav"


def test_short_call_pumping_suspends_the_tenant_and_alerts(
    settings, mailoutbox, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    """Ten connected calls in an hour, three of them 6 s or shorter (30 % > 20 %): the tenant is suspended."""
    settings.BILLING_ALERT_EMAILS = ["fraud@operator.example"]
    numbers = tuple(f"+86138000011{i:02d}" for i in range(10))
    enterprise = make_enterprise("pump", numbers=numbers, max_concurrent_calls=20)
    for i, talk in enumerate([4, 5, 6, 60, 60, 60, 60, 60, 60, 60]):
        attempt = place_call(enterprise, visitor=f"+86139{i:08d}")
        end_call(attempt, talk_seconds=talk)
        with django_capture_on_commit_callbacks(execute=True):
            cdr_record_attempt(attempt_id=attempt.pk)
        enterprise.refresh_from_db()
        assert enterprise.status == ("active" if i < 9 else "suspended")
    alert = FraudAlert.objects.get()
    assert (alert.kind, alert.detail) == ("short_calls", "3 of 10 connected calls in the last hour lasted 6 s or less")
    assert [mail.to for mail in mailoutbox] == [["fraud@operator.example"]]
