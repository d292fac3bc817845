"""The JSON shapes of a callback request and a CDR, shared by the REST API and the webhook bodies.

One function per shape, so what a tenant reads from the API and what its webhook receiver gets can never
drift apart. Plain dicts of JSON types; the DRF serializers in integrations.api declare the same fields for
the OpenAPI schema.
"""

from datetime import datetime
from typing import Any

from callback.models import CallbackRequest
from callback.reasons import reason_text
from callback.statemachine import FINAL_STATUSES, Status


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def callback_representation(request: CallbackRequest, *, enterprise_slug: str) -> dict[str, Any]:
    return {
        "id": str(request.correlation_id),
        "enterprise": enterprise_slug,
        "status": request.status,
        "is_final": Status(request.status) in FINAL_STATUSES,
        "reason_code": request.reason_code,
        "reason": reason_text(request.reason_code) if request.reason_code else "",
        "visitor_number": request.visitor_number,
        "source": request.source,
        "attempts": request.attempts_made,
        "created_at": _iso(request.created_at),
        "due_at": _iso(request.due_at),
        "connected_at": _iso(request.connected_at),
        "finished_at": _iso(request.finished_at),
    }


def cdr_representation(record: Any, *, enterprise_slug: str, callback_id: str | None) -> dict[str, Any]:
    """``record`` is a cdr.models.CallDetailRecord; the charge fields appear once billing rates CDRs."""
    charge = getattr(record, "charge", None)
    return {
        "id": record.pk,
        "enterprise": enterprise_slug,
        "callback_id": callback_id,
        "leg": record.role,
        "number": record.number,
        "node": record.node_name,
        "linkedid": record.linkedid,
        "started_at": _iso(record.started_at),
        "answered_at": _iso(record.answered_at),
        "ended_at": _iso(record.ended_at),
        "duration_seconds": record.duration_seconds,
        "billable_seconds": record.billable_seconds,
        "disposition": record.disposition,
        "hangup_cause": record.hangup_cause,
        "charge": str(charge) if charge is not None else None,
        "currency": getattr(record, "currency", "") or "",
    }


def _money(value: Any) -> str | None:
    return str(value) if value is not None else None


def invoice_representation(invoice: Any) -> dict[str, Any]:
    """``invoice`` is a billing.models.Invoice."""
    return {
        "id": invoice.pk,
        "number": invoice.number,
        "kind": invoice.kind,
        "status": invoice.status,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "currency": invoice.currency,
        "subtotal": _money(invoice.subtotal),
        "net_amount": _money(invoice.net_amount),
        "tax_amount": _money(invoice.tax_amount),
        "total_amount": _money(invoice.total_amount),
        "issued_at": _iso(invoice.issued_at),
        "voided_at": _iso(invoice.voided_at),
    }


def balance_representation(funds: Any) -> dict[str, Any]:
    """``funds`` is billing's Funds, or None for a tenant without a billing account (unmetered)."""
    if funds is None:
        return {
            "metered": False,
            "currency": None,
            "balance": None,
            "reserved": None,
            "credit_limit": None,
            "available": None,
        }
    return {
        "metered": True,
        "currency": funds.currency,
        "balance": _money(funds.balance),
        "reserved": _money(funds.reserved),
        "credit_limit": _money(funds.credit_limit),
        "available": _money(funds.available),
    }
