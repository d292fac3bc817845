"""Operator console pages of the engine: live calls and Asterisk node health. Staff only."""

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from callback import selectors


@staff_member_required
def live_calls(request: HttpRequest) -> HttpResponse:
    attempts = selectors.live_attempts()
    by_node: dict[str, int] = {}
    by_enterprise: dict[str, int] = {}
    for attempt in attempts:
        by_node[attempt.node.name] = by_node.get(attempt.node.name, 0) + 1
        by_enterprise[attempt.enterprise.name] = by_enterprise.get(attempt.enterprise.name, 0) + 1
    context = {"attempts": attempts, "by_node": sorted(by_node.items()), "by_enterprise": sorted(by_enterprise.items())}
    return render(request, "console/live_calls.html", context)


@staff_member_required
def nodes(request: HttpRequest) -> HttpResponse:
    return render(request, "console/nodes.html", {"nodes": selectors.nodes_with_load()})


urlpatterns = [
    path("live/", live_calls, name="live_calls"),
    path("nodes/", nodes, name="nodes"),
]
