"""The enterprise portal's widget pages: settings with the snippet and a live preview, leads, the blacklist.

Thin views over widget.services and widget.selectors; the enterprise always comes from the logged-in admin's
membership (tenants.views.enterprise_view), so another tenant's ids are a 404.
"""

from collections.abc import Iterator
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huibo.errors import ApplicationError
from huibo.spreadsheet import csv_download, local_time
from tenants.models import Membership
from tenants.views import enterprise_view
from widget import selectors, services
from widget.forms import BlacklistForm, LeadFilterForm, WidgetSettingsForm
from widget.models import Lead

LEADS_PER_PAGE = 50


@enterprise_view
def widget_settings(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    widget = selectors.widget_of(enterprise=enterprise)
    form = WidgetSettingsForm(request.POST or None, instance=widget.settings)
    if request.method == "POST" and form.is_valid():
        try:
            services.widget_settings_update(
                enterprise=enterprise,
                **form.cleaned_data,
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Widget settings saved."))
            return redirect("widget_portal:settings")
    script_url = request.build_absolute_uri(f"/widget/{enterprise.public_key}.js")
    context = {
        "enterprise": enterprise,
        "form": form,
        "snippet": f'<script src="{script_url}" async></script>',
        "script_url": script_url,
    }
    return render(request, "widget/portal_settings.html", context)


def _lead_filters(request: HttpRequest) -> tuple[LeadFilterForm, selectors.LeadFilter]:
    form = LeadFilterForm(request.GET or None)
    if form.is_bound and form.is_valid():
        return form, selectors.LeadFilter(**form.cleaned_data)
    return form, selectors.LeadFilter()


@enterprise_view
def lead_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    form, filters = _lead_filters(request)
    page = Paginator(selectors.leads_of(enterprise=enterprise, filters=filters), LEADS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {"enterprise": enterprise, "form": form, "page": page, "query": query.urlencode()}
    return render(request, "widget/portal_leads.html", context)


_CSV_COLUMNS = [
    "created_at",
    "visitor_number",
    "status",
    "reason_code",
    "page_url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "language",
    "user_agent",
]


def _lead_rows(leads: Iterator[Lead], zone: ZoneInfo) -> Iterator[list[object]]:
    for lead in leads:
        request = lead.callback_request
        yield [
            local_time(lead.created_at, zone),
            request.visitor_number,
            request.status,
            request.reason_code,
            lead.page_url,
            lead.referrer,
            lead.utm_source,
            lead.utm_medium,
            lead.utm_campaign,
            lead.utm_term,
            lead.utm_content,
            lead.language,
            lead.user_agent,
        ]


@enterprise_view
def lead_export(request: HttpRequest, membership: Membership) -> StreamingHttpResponse:
    enterprise = membership.enterprise
    _form, filters = _lead_filters(request)
    leads = selectors.leads_of(enterprise=enterprise, filters=filters).iterator(chunk_size=500)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    rows = _lead_rows(leads, ZoneInfo(enterprise.time_zone))
    return csv_download(_CSV_COLUMNS, rows, filename=f"leads-{enterprise.slug}-{stamp}.csv")


@enterprise_view
def blacklist(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    form = BlacklistForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.blacklist_add(enterprise=enterprise, created_by=request.user, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Number blocked."))
            return redirect("widget_portal:blacklist")
    entries = selectors.blacklist_of(enterprise=enterprise, now=timezone.now())
    return render(request, "widget/portal_blacklist.html", {"enterprise": enterprise, "form": form, "entries": entries})


@require_POST
@enterprise_view
def blacklist_lift(request: HttpRequest, membership: Membership, pk: int) -> HttpResponse:
    entry = get_object_or_404(selectors.blacklist_of(enterprise=membership.enterprise, now=timezone.now()), pk=pk)
    services.blacklist_lift(entry=entry, lifted_by=request.user)
    messages.success(request, _("Number unblocked."))
    return redirect("widget_portal:blacklist")
