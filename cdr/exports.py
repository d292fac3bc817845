"""CSV export of CDRs (huibo.spreadsheet: streamed, spreadsheet-safe)."""

from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _

from cdr.models import CallDetailRecord
from huibo.spreadsheet import csv_download, local_time


def _header(with_enterprise: bool) -> list[str]:
    columns = [
        _("Start"),
        _("Leg"),
        _("Number"),
        _("Asterisk node"),
        _("Linkedid"),
        _("Uniqueid"),
        _("Answer"),
        _("End"),
        _("Duration (s)"),
        _("Billable (s)"),
        _("Billed (s)"),
        _("Disposition"),
        _("Q.850 cause"),
        _("Destination group"),
        _("Charge"),
        _("Currency"),
    ]
    return [_("Enterprise"), *columns] if with_enterprise else columns


def _rows(records: Iterable[CallDetailRecord], zone: ZoneInfo, with_enterprise: bool) -> Iterator[list[object]]:
    for record in records:
        row = [
            local_time(record.started_at, zone),
            record.get_role_display(),
            record.number,
            record.node_name,
            record.linkedid,
            record.uniqueid,
            local_time(record.answered_at, zone),
            local_time(record.ended_at, zone),
            record.duration_seconds,
            record.billable_seconds,
            record.billed_seconds,
            record.disposition_display,
            record.hangup_cause,
            record.destination_group,
            record.charge,
            record.currency,
        ]
        yield [record.enterprise.name, *row] if with_enterprise else row


def cdr_csv_response(
    records: Iterable[CallDetailRecord], *, filename: str, zone: ZoneInfo, with_enterprise: bool = False
) -> StreamingHttpResponse:
    return csv_download(_header(with_enterprise), _rows(records, zone, with_enterprise), filename=filename)
