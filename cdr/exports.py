"""CSV export of CDRs, streamed row by row so a month of records never sits in memory."""

import csv
from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _

from cdr.models import CallDetailRecord

_FORMULA_START = ("=", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def cell(value: object) -> str:
    """A spreadsheet must not run a cell as a formula; a plain phone number (+8613…) stays as it is."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) or (text[:1] in "+-" and not text[1:].isdigit() and text[1:2] != ""):
        return "'" + text
    return text


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


def _local(value: object, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""  # type: ignore[attr-defined]


def _rows(records: Iterable[CallDetailRecord], zone: ZoneInfo, with_enterprise: bool) -> Iterator[list[str]]:
    yield _header(with_enterprise)
    for record in records:
        row = [
            _local(record.started_at, zone),
            record.role,
            record.number,
            record.node_name,
            record.linkedid,
            record.uniqueid,
            _local(record.answered_at, zone),
            _local(record.ended_at, zone),
            record.duration_seconds,
            record.billable_seconds,
            record.billed_seconds,
            record.disposition,
            record.hangup_cause,
            record.destination_group,
            record.charge,
            record.currency,
        ]
        yield [cell(value) for value in ([record.enterprise.name, *row] if with_enterprise else row)]


def cdr_csv_response(
    records: Iterable[CallDetailRecord], *, filename: str, zone: ZoneInfo, with_enterprise: bool = False
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in _rows(records, zone, with_enterprise)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
