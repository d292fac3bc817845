"""Invoices as documents: PDF (reportlab) and CSV, each in the invoice's own language.

Chinese text uses reportlab's built-in STSong-Light CID font, which PDF readers supply: no font file ships.
"""

import csv
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.http import StreamingHttpResponse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import override
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.models import Invoice, InvoiceLine
from billing.money import quantize_invoice
from billing.selectors import ledger_entries_of
from huibo.spreadsheet import csv_download, local_time
from tenants.models import Enterprise

_CJK_FONT = "STSong-Light"
_SIXTY = Decimal(60)


def _font(language: str) -> str:
    if language.startswith("zh"):
        if _CJK_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(_CJK_FONT))
        return _CJK_FONT
    return "Helvetica"


def leg_label(leg: str) -> str:
    return {"enterprise": _("Enterprise leg"), "visitor": _("Visitor leg")}.get(leg, leg)


def minutes(seconds: int) -> Decimal:
    return (Decimal(seconds) / _SIXTY).quantize(Decimal("0.01"))


def _title(invoice: Invoice) -> str:
    return _("Credit note") if invoice.kind == Invoice.Kind.CREDIT_NOTE else _("Invoice")


def _rows(invoice: Invoice, lines: list[InvoiceLine]) -> list[list[str]]:
    header = [_("Leg"), _("Destination"), _("Legs"), _("Minutes"), _("Amount")]
    body = [
        [
            leg_label(line.leg),
            line.destination_group,
            str(line.legs),
            str(minutes(line.billed_seconds)),
            f"{line.amount} {invoice.currency}",
        ]
        for line in lines
    ]
    return [header, *body]


def invoice_pdf(invoice: Invoice) -> bytes:
    lines = list(invoice.lines.all())
    with override(invoice.language):
        font = _font(invoice.language)
        normal = ParagraphStyle("normal", fontName=font, fontSize=10, leading=14)
        heading = ParagraphStyle("heading", fontName=font, fontSize=16, leading=22)
        out = io.BytesIO()
        document = SimpleDocTemplate(
            out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, title=f"{_title(invoice)} {invoice.number}"
        )
        story = [
            Paragraph(f"{_title(invoice)} {invoice.number}", heading),
            Paragraph(invoice.enterprise.name, normal),
            Paragraph(
                _("Period: %(start)s to %(end)s (exclusive)")
                % {
                    "start": formats.date_format(invoice.period_start, "SHORT_DATE_FORMAT"),
                    "end": formats.date_format(invoice.period_end, "SHORT_DATE_FORMAT"),
                },
                normal,
            ),
            Paragraph(
                _("Issued: %(date)s") % {"date": formats.date_format(invoice.issued_at, "SHORT_DATE_FORMAT")}, normal
            ),
        ]
        if invoice.credits_id:
            story.append(Paragraph(_("Credits invoice %(number)s") % {"number": invoice.credits.number}, normal))
        if invoice.note:
            story.append(Paragraph(invoice.note, normal))
        story.append(Spacer(1, 6 * mm))
        table = Table(_rows(invoice, lines), repeatRows=1, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), font),
                    ("FONTSIZE", (0, 0), (-1, -1), 9),
                    ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
                    ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                ]
            )
        )
        story.append(table)
        story.append(Spacer(1, 6 * mm))
        for label, amount in _totals(invoice):
            story.append(Paragraph(f"{label}: {amount} {invoice.currency}", normal))
        document.build(story)
    return out.getvalue()


def _totals(invoice: Invoice) -> list[tuple[str, Decimal]]:
    return [
        (_("Net amount"), quantize_invoice(invoice.net_amount)),
        (
            _("Tax (%(rate)s %%)") % {"rate": (invoice.tax_rate * 100).normalize()},
            quantize_invoice(invoice.tax_amount),
        ),
        (_("Total"), quantize_invoice(invoice.total_amount)),
    ]


def invoice_csv(invoice: Invoice) -> str:
    lines = list(invoice.lines.all())
    out = io.StringIO()
    writer = csv.writer(out)
    with override(invoice.language):
        writer.writerow([_title(invoice), invoice.number, invoice.enterprise.name, invoice.currency])
        writer.writerow([_("Period"), invoice.period_start.isoformat(), invoice.period_end.isoformat()])
        writer.writerows(_rows(invoice, lines))
        for label, amount in _totals(invoice):
            writer.writerow([label, "", "", "", str(amount)])
    return out.getvalue()


def ledger_csv(*, enterprise: Enterprise, kinds: list[str] | None, with_who: bool) -> StreamingHttpResponse:
    """An enterprise's ledger (of ``kinds``, or all) for a spreadsheet, newest first as on the page, times on the
    tenant's clock; ``with_who``: who booked each entry (for operator staff)."""
    entries = ledger_entries_of(enterprise=enterprise, kinds=kinds).iterator(chunk_size=500)
    zone = ZoneInfo(enterprise.time_zone)
    header = [_("When"), _("Kind"), _("Amount"), _("Currency"), _("Balance after"), _("Reason"), _("Reference")]
    rows = (
        [
            local_time(entry.created_at, zone),
            entry.get_kind_display(),
            entry.amount,
            entry.currency,
            entry.balance_after,
            entry.reason_display,
            entry.reference,
            *([entry.created_by or ""] if with_who else []),
        ]
        for entry in entries
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    filename = f"ledger-{enterprise.slug}-{stamp}.csv"
    return csv_download([*header, *([_("By")] if with_who else [])], rows, filename=filename)
