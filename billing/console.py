"""Operator console pages of billing: balances and top-ups, rate plans, invoices (issue, void), fraud alerts.

Staff only. Every money movement goes through billing.services with the reason and the staff member recorded.
"""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import selectors, services
from billing.documents import ledger_csv
from billing.forms import IssueInvoiceForm, LedgerEntryForm, VoidInvoiceForm
from billing.models import Invoice, LedgerEntry
from billing.views import invoice_document
from huibo.errors import ApplicationError
from tenants.models import Enterprise


@staff_member_required
def accounts(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/console_accounts.html", {"rows": selectors.accounts_with_funds()})


_POSTERS = {
    LedgerEntry.Kind.TOP_UP: services.balance_top_up,
    LedgerEntry.Kind.ADJUSTMENT: services.balance_adjust,
    LedgerEntry.Kind.REFUND: services.balance_refund,
}


@staff_member_required
def account(request: HttpRequest, enterprise_id: int) -> HttpResponse:
    enterprise = get_object_or_404(Enterprise, pk=enterprise_id)
    form = LedgerEntryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            _POSTERS[data["kind"]](
                enterprise=enterprise,
                amount=data["amount"],
                reason=data["reason"],
                key=data["key"],
                created_by=request.user,
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Booked."))
            return redirect("console:billing_account", enterprise_id=enterprise.pk)
    context = {
        "enterprise": enterprise,
        "account": selectors.account_of(enterprise=enterprise),
        "funds": selectors.funds_for(enterprise=enterprise),
        "page": Paginator(selectors.ledger_entries_of(enterprise=enterprise), 50).get_page(request.GET.get("page")),
        "form": form,
    }
    return render(request, "billing/console_account.html", context)


@staff_member_required
def account_ledger_export(request: HttpRequest, enterprise_id: int) -> StreamingHttpResponse:
    return ledger_csv(enterprise=get_object_or_404(Enterprise, pk=enterprise_id), kinds=None, with_who=True)


@staff_member_required
def rate_plans(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/console_rate_plans.html", {"plans": selectors.rate_plans()})


@staff_member_required
def invoices(request: HttpRequest) -> HttpResponse:
    form = IssueInvoiceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invoice = services.invoice_issue(**form.cleaned_data, issued_by=request.user)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            if invoice is None:
                messages.info(request, _("Nothing to invoice for that period."))
            else:
                messages.success(request, _("Invoice %(number)s issued.") % {"number": invoice.number})
            return redirect("console:billing_invoices")
    page = Paginator(selectors.all_invoices(), 50).get_page(request.GET.get("page"))
    return render(
        request, "billing/console_invoices.html", {"page": page, "form": form, "void_form": VoidInvoiceForm()}
    )


@require_POST
@staff_member_required
def invoice_void(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(Invoice, pk=pk)
    form = VoidInvoiceForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the invoice is voided."))
        return redirect("console:billing_invoices")
    try:
        credit = services.invoice_void(invoice=invoice, reason=form.cleaned_data["reason"], voided_by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Invoice %(number)s voided; credit note %(credit)s issued.")
            % {"number": invoice.number, "credit": credit.number},
        )
    return redirect("console:billing_invoices")


@staff_member_required
def invoice_download(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    return invoice_document(Invoice.objects.filter(pk=pk).first(), kind=kind)


@staff_member_required
def fraud_alerts(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.fraud_alerts(), 50).get_page(request.GET.get("page"))
    return render(request, "billing/console_fraud.html", {"page": page})


urlpatterns = [
    path("billing/", accounts, name="billing_accounts"),
    path("billing/<int:enterprise_id>/", account, name="billing_account"),
    path("billing/<int:enterprise_id>/ledger.csv", account_ledger_export, name="billing_account_ledger_csv"),
    path("billing/rate-plans/", rate_plans, name="billing_rate_plans"),
    path("billing/invoices/", invoices, name="billing_invoices"),
    path("billing/invoices/<int:pk>/void/", invoice_void, name="billing_invoice_void"),
    path("billing/invoices/<int:pk>/pdf/", invoice_download, {"kind": "pdf"}, name="billing_invoice_pdf"),
    path("billing/invoices/<int:pk>/csv/", invoice_download, {"kind": "csv"}, name="billing_invoice_csv"),
    path("billing/fraud/", fraud_alerts, name="billing_fraud"),
]
