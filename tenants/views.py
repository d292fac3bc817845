"""The enterprise portal: thin views over tenants' services and selectors.

Every view resolves the enterprise from the logged-in user's membership and
looks rows up within it, so another tenant's id is a 404 and changes nothing.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huibo.errors import ApplicationError
from tenants import selectors, services
from tenants.forms import BoundNumberForm, EnterpriseSettingsForm, HolidayForm, OpeningIntervalFormSet
from tenants.models import Membership

View = Callable[..., HttpResponse]


def enterprise_view(view: View) -> View:
    """Require a logged-in enterprise admin; pass their membership; refuse writes to viewers; show times in the
    enterprise's time zone."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = selectors.membership_for_user(user=request.user)
        if membership is None:
            if request.user.is_staff:
                return redirect("console:live_calls")  # operator staff: their home is the console
            raise PermissionDenied(_("This account does not belong to an enterprise."))
        if request.method == "POST" and not membership.can_edit:
            raise PermissionDenied(_("Your role can read but not change settings."))
        # Every time on the enterprise's pages reads in its own zone (stored in UTC).
        with timezone.override(membership.enterprise.time_zone):
            return view(request, membership, *args, **kwargs)

    return wrapped


@enterprise_view
def dashboard(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    context = {
        "enterprise": enterprise,
        "bound_numbers": selectors.bound_numbers_of(enterprise=enterprise),
        "working_hours": selectors.working_hours_of(enterprise=enterprise),
    }
    return render(request, "portal/dashboard.html", context)


@enterprise_view
def settings_edit(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    form = EnterpriseSettingsForm(request.POST or None, instance=enterprise)
    if request.method == "POST" and form.is_valid():
        try:
            services.enterprise_update(enterprise=enterprise, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("portal:settings")
        enterprise.refresh_from_db()
    return render(request, "portal/settings.html", {"enterprise": enterprise, "form": form})


@enterprise_view
def bound_number_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    numbers = selectors.bound_numbers_of(enterprise=enterprise)
    return render(request, "portal/bound_numbers.html", {"enterprise": enterprise, "bound_numbers": numbers})


@enterprise_view
def bound_number_edit(request: HttpRequest, membership: Membership, pk: int | None = None) -> HttpResponse:
    enterprise = membership.enterprise
    bound = get_object_or_404(selectors.bound_numbers_of(enterprise=enterprise), pk=pk) if pk else None
    form = BoundNumberForm(request.POST or None, instance=bound)
    if request.method == "POST" and form.is_valid():
        try:
            if bound is None:
                services.bound_number_create(enterprise=enterprise, **form.cleaned_data)
            else:
                services.bound_number_update(bound_number=bound, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Bound number saved."))
            return redirect("portal:bound_numbers")
    return render(request, "portal/bound_number_form.html", {"enterprise": enterprise, "form": form, "bound": bound})


@require_POST
@enterprise_view
def bound_number_delete(request: HttpRequest, membership: Membership, pk: int) -> HttpResponse:
    bound = get_object_or_404(selectors.bound_numbers_of(enterprise=membership.enterprise), pk=pk)
    try:
        services.bound_number_delete(bound_number=bound)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Bound number removed."))
    return redirect("portal:bound_numbers")


@enterprise_view
def working_hours_edit(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    current = [
        {"weekday": h.weekday, "opens_at": h.opens_at, "closes_at": h.closes_at}
        for h in selectors.working_hours_of(enterprise=enterprise)
    ]
    formset = OpeningIntervalFormSet(request.POST or None, initial=current, prefix="hours")
    holiday_form = HolidayForm(request.POST or None, prefix="holiday")
    if request.method == "POST" and "add_holiday" in request.POST:
        formset = OpeningIntervalFormSet(initial=current, prefix="hours")
        if holiday_form.is_valid():
            services.holiday_add(enterprise=enterprise, **holiday_form.cleaned_data)
            messages.success(request, _("Holiday added."))
            return redirect("portal:working_hours")
    elif request.method == "POST" and formset.is_valid():
        holiday_form = HolidayForm(prefix="holiday")
        intervals = [
            services.OpeningInterval(**{k: row[k] for k in ("weekday", "opens_at", "closes_at")})
            for row in formset.cleaned_data
            if row and not row.get("DELETE")
        ]
        try:
            services.working_hours_replace(enterprise=enterprise, intervals=intervals)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Working hours saved."))
            return redirect("portal:working_hours")
    context = {
        "enterprise": enterprise,
        "formset": formset,
        "holiday_form": holiday_form,
        "holidays": selectors.holidays_of(enterprise=enterprise),
    }
    return render(request, "portal/working_hours.html", context)


@require_POST
@enterprise_view
def holiday_delete(request: HttpRequest, membership: Membership, pk: int) -> HttpResponse:
    holiday = get_object_or_404(selectors.holidays_of(enterprise=membership.enterprise), pk=pk)
    services.holiday_remove(enterprise=membership.enterprise, holiday_id=holiday.pk)
    return redirect("portal:working_hours")
