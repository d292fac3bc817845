"""The enterprise portal's billing pages: balance and top-up history, invoices. Thin views, tenant-scoped."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from billing import selectors, services
from billing.documents import invoice_csv, invoice_pdf, ledger_csv
from billing.forms import AlertSettingsForm
from billing.models import Invoice, LedgerEntry
from tenants.models import Membership
from tenants.views import enterprise_view


@enterprise_view
def balance(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    account = selectors.account_of(enterprise=enterprise)
    alerts = AlertSettingsForm(
        request.POST or None,
        initial={
            "thresholds": ", ".join(str(t.amount.normalize()) for t in selectors.thresholds_of(enterprise=enterprise)),
            "alert_email": account.alert_email if account else "",
        },
    )
    if request.method == "POST" and account is not None and alerts.is_valid():
        services.threshold_set(account=account, amounts=alerts.cleaned_data["thresholds"])
        services.account_update(account=account, alert_email=alerts.cleaned_data["alert_email"])
        messages.success(request, _("Low-balance alerts saved."))
        return redirect("billing:balance")
    only_top_ups = request.GET.get("show") == "top_ups"
    kinds = [LedgerEntry.Kind.TOP_UP] if only_top_ups else None
    entries = selectors.ledger_entries_of(enterprise=enterprise, kinds=kinds)
    context = {
        "enterprise": enterprise,
        "funds": selectors.funds_for(enterprise=enterprise),
        "account": account,
        "page": Paginator(entries, 50).get_page(request.GET.get("page")),
        "only_top_ups": only_top_ups,
        "alerts": alerts,
        "can_edit": membership.can_edit,
    }
    return render(request, "billing/balance.html", context)


@enterprise_view
def ledger_export(request: HttpRequest, membership: Membership) -> StreamingHttpResponse:
    kinds = [LedgerEntry.Kind.TOP_UP] if request.GET.get("show") == "top_ups" else None
    return ledger_csv(enterprise=membership.enterprise, kinds=kinds, with_who=False)


@enterprise_view
def invoice_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    page = Paginator(selectors.invoices_of(enterprise=enterprise), 50).get_page(request.GET.get("page"))
    return render(request, "billing/invoice_list.html", {"enterprise": enterprise, "page": page})


def invoice_document(invoice: Invoice | None, *, kind: str) -> HttpResponse:
    if invoice is None:
        raise Http404(_("No such invoice."))
    if kind == "pdf":
        response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    else:
        response = HttpResponse(invoice_csv(invoice), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.{kind}"'
    return response


@enterprise_view
def invoice_download(request: HttpRequest, membership: Membership, pk: int, kind: str) -> HttpResponse:
    return invoice_document(selectors.invoice_of(enterprise=membership.enterprise, pk=pk), kind=kind)
