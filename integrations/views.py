"""The enterprise portal's Integrations pages: API keys, webhook subscriptions and the delivery log.

Thin views over integrations' services and selectors; the enterprise comes from the logged-in admin's
membership and every id is looked up within it, so another tenant's id is a 404. Viewers may read, not write.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from huibo.errors import ApplicationError
from integrations import selectors
from integrations.forms import ApiKeyForm, WebhookSubscriptionForm
from integrations.models import WebhookDelivery
from integrations.services import api_keys, webhooks
from tenants.models import Membership
from tenants.views import enterprise_view


@never_cache
@enterprise_view
def api_key_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            new_key = api_keys.api_key_create(
                name=form.cleaned_data["name"], enterprise=enterprise, created_by=request.user
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            form = ApiKeyForm()
    context = {
        "enterprise": enterprise,
        "membership": membership,
        "form": form,
        "new_key": new_key,
        "api_keys": selectors.api_keys_of(enterprise=enterprise),
    }
    # The new key is in this response only: rendered, never stored, never redirected to.
    return render(request, "integrations/api_keys.html", context)


@require_POST
@enterprise_view
def api_key_revoke(request: HttpRequest, membership: Membership, pk: int) -> HttpResponse:
    api_key = get_object_or_404(selectors.api_keys_of(enterprise=membership.enterprise), pk=pk)
    api_keys.api_key_revoke(api_key=api_key)
    messages.success(request, _("API key “%(name)s” revoked.") % {"name": api_key.name})
    return redirect("integrations:api_keys")


@enterprise_view
def webhook_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    form = WebhookSubscriptionForm(request.POST or None, initial={"enabled": True})
    if request.method == "POST" and form.is_valid():
        try:
            subscription = webhooks.webhook_subscription_create(
                enterprise=enterprise,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Webhook added. Its signing secret is shown on its page."))
            return redirect("integrations:webhook", pk=subscription.pk)
    context = {
        "enterprise": enterprise,
        "membership": membership,
        "form": form,
        "subscriptions": selectors.webhook_subscriptions_of(enterprise=enterprise),
    }
    return render(request, "integrations/webhooks.html", context)


@never_cache
@enterprise_view
def webhook_edit(request: HttpRequest, membership: Membership, pk: int) -> HttpResponse:
    enterprise = membership.enterprise
    subscription = get_object_or_404(selectors.webhook_subscriptions_of(enterprise=enterprise), pk=pk)
    initial = {
        "url": subscription.url,
        "events": subscription.events,
        "description": subscription.description,
        "enabled": subscription.enabled,
    }
    form = WebhookSubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            webhooks.webhook_subscription_update(subscription=subscription, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Webhook saved."))
            return redirect("integrations:webhook", pk=subscription.pk)
    context = {
        "enterprise": enterprise,
        "membership": membership,
        "form": form,
        "subscription": subscription,
        "deliveries": selectors.webhook_deliveries_of(enterprise=enterprise, subscription=subscription)[:20],
    }
    return render(request, "integrations/webhook_edit.html", context)


@require_POST
@enterprise_view
def webhook_rotate_secret(request: HttpRequest, membership: Membership, pk: int) -> HttpResponse:
    subscription = get_object_or_404(selectors.webhook_subscriptions_of(enterprise=membership.enterprise), pk=pk)
    webhooks.webhook_subscription_rotate_secret(subscription=subscription)
    messages.success(request, _("New signing secret made; the old one no longer signs."))
    return redirect("integrations:webhook", pk=pk)


@require_POST
@enterprise_view
def webhook_delete(request: HttpRequest, membership: Membership, pk: int) -> HttpResponse:
    subscription = get_object_or_404(selectors.webhook_subscriptions_of(enterprise=membership.enterprise), pk=pk)
    webhooks.webhook_subscription_delete(subscription=subscription)
    messages.success(request, _("Webhook removed."))
    return redirect("integrations:webhooks")


@enterprise_view
def delivery_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    enterprise = membership.enterprise
    status = request.GET.get("status", "")
    if status not in WebhookDelivery.Status.values:
        status = ""
    deliveries = selectors.webhook_deliveries_of(enterprise=enterprise, status=status)
    page = Paginator(deliveries, 50).get_page(request.GET.get("page"))
    context = {
        "enterprise": enterprise,
        "membership": membership,
        "page": page,
        "status": status,
        "statuses": WebhookDelivery.Status.choices,
    }
    return render(request, "integrations/deliveries.html", context)


@enterprise_view
def delivery_detail(request: HttpRequest, membership: Membership, pk: int) -> HttpResponse:
    delivery = get_object_or_404(selectors.webhook_deliveries_of(enterprise=membership.enterprise), pk=pk)
    context = {"enterprise": membership.enterprise, "membership": membership, "delivery": delivery}
    return render(request, "integrations/delivery_detail.html", context)


@require_POST
@enterprise_view
def delivery_replay(request: HttpRequest, membership: Membership, pk: int) -> HttpResponse:
    delivery = get_object_or_404(selectors.webhook_deliveries_of(enterprise=membership.enterprise), pk=pk)
    replay = webhooks.webhook_delivery_replay(delivery=delivery)
    messages.success(request, _("Event queued again as delivery %(id)s.") % {"id": replay.pk})
    return redirect("integrations:delivery", pk=replay.pk)
