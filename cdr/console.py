"""Operator console pages of the CDR app: cross-tenant CDRs and export, ASR/ACD, recordings. Staff only."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from cdr import selectors
from cdr.exports import cdr_csv_response
from cdr.forms import ConsoleCdrFilterForm
from cdr.views import page_size, recording_response

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


@staff_member_required
def cdrs(request: HttpRequest) -> HttpResponse:
    form = ConsoleCdrFilterForm(request.GET or None)
    records = selectors.all_cdrs(filters=form.filters() if form.is_bound else None)
    page = Paginator(records, page_size()).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "cdr/console_cdrs.html", {"form": form, "page": page, "query": query.urlencode()})


@staff_member_required
def cdrs_export(request: HttpRequest) -> HttpResponse:
    form = ConsoleCdrFilterForm(request.GET or None)
    records = selectors.all_cdrs(filters=form.filters() if form.is_bound else None)
    return cdr_csv_response(
        records.iterator(chunk_size=2000), filename="cdrs.csv", zone=ZoneInfo("UTC"), with_enterprise=True
    )


@staff_member_required
def traffic(request: HttpRequest) -> HttpResponse:
    period = request.GET.get("period", "24h")
    since = timezone.now() - PERIODS.get(period, PERIODS["24h"])
    context = {
        "period": period if period in PERIODS else "24h",
        "periods": list(PERIODS),
        "by_enterprise": selectors.traffic_by(group="enterprise", since=since),
        "by_node": selectors.traffic_by(group="node", since=since),
    }
    return render(request, "cdr/console_traffic.html", context)


@staff_member_required
def recording(request: HttpRequest, pk: int, download: bool = False) -> FileResponse:
    return recording_response(selectors.any_recording(pk=pk), download=download)


urlpatterns = [
    path("cdrs/", cdrs, name="cdrs"),
    path("cdrs/export.csv", cdrs_export, name="cdrs_export"),
    path("traffic/", traffic, name="cdr_traffic"),
    path("recordings/<int:pk>/play/", recording, name="cdr_recording_play"),
    path("recordings/<int:pk>/download/", recording, {"download": True}, name="cdr_recording_download"),
]
