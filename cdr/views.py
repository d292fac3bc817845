"""The enterprise portal's call pages: CDRs, recordings, the calls dashboard. Thin views over cdr's selectors.

Every view resolves the enterprise from the logged-in user's membership (tenants.views.enterprise_view) and looks
rows up within it, so another tenant's id is a 404.
"""

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import selectors as billing_selectors
from cdr import selectors, services
from cdr.exports import cdr_csv_response
from cdr.forms import CdrFilterForm, RecordingSettingForm
from cdr.models import CallSummary
from tenants.models import Membership
from tenants.views import enterprise_view


def page_size() -> int:
    from django.conf import settings

    return settings.CDR_PAGE_SIZE


@enterprise_view
def cdr_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    form = CdrFilterForm(request.GET or None)
    records = selectors.cdrs_of(enterprise=enterprise, filters=form.filters() if form.is_bound else None)
    page = Paginator(records, page_size()).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"enterprise": enterprise, "form": form, "page": page, "query": query.urlencode()}
    return render(request, "cdr/cdr_list.html", context)


@enterprise_view
def cdr_export(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    form = CdrFilterForm(request.GET or None)
    records = selectors.cdrs_of(enterprise=enterprise, filters=form.filters() if form.is_bound else None)
    return cdr_csv_response(
        records.iterator(chunk_size=2000), filename=f"cdrs-{enterprise.slug}.csv", zone=ZoneInfo(enterprise.time_zone)
    )


@enterprise_view
def recording_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    page = Paginator(selectors.recordings_of(enterprise=enterprise), page_size()).get_page(request.GET.get("page"))
    setting = selectors.recording_setting_of(enterprise=enterprise)
    context = {"enterprise": enterprise, "page": page, "setting": setting, "can_edit": membership.can_edit}
    return render(request, "cdr/recording_list.html", context)


def recording_response(call: CallSummary | None, *, download: bool) -> FileResponse:
    path = services.recording_path(call.recording_file) if call else None
    if call is None or path is None:
        raise Http404(_("No such recording."))
    response = FileResponse(path.open("rb"), as_attachment=download, filename=path.name, content_type="audio/wav")
    response["Cache-Control"] = "private, no-store"
    return response


@enterprise_view
def recording_file(request: HttpRequest, membership: Membership, pk: int, download: bool = False) -> FileResponse:
    return recording_response(selectors.recording_of(enterprise=membership.enterprise, pk=pk), download=download)


@enterprise_view
def recording_settings(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    form = RecordingSettingForm(request.POST or None, instance=selectors.recording_setting_of(enterprise=enterprise))
    if request.method == "POST" and form.is_valid():
        services.recording_set(enterprise=enterprise, **form.cleaned_data)
        messages.success(request, _("Recording settings saved."))
        return redirect("cdr:recordings")
    return render(request, "cdr/recording_settings.html", {"enterprise": enterprise, "form": form})


@enterprise_view
def dashboard(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    context = {
        "enterprise": enterprise,
        "stats": selectors.dashboard_of(enterprise=enterprise, now=timezone.now()),
        "funds": billing_selectors.funds_for(enterprise=enterprise),
    }
    return render(request, "cdr/dashboard.html", context)
