"""/api/v1/: the REST API, its OpenAPI schema and its browsable docs."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from integrations.api import views

app_name = "api"

urlpatterns = [
    path("callbacks/", views.CallbackListCreateView.as_view(), name="callbacks"),
    path("callbacks/<str:callback_id>/", views.CallbackDetailView.as_view(), name="callback"),
    path("callbacks/<str:callback_id>/cancel/", views.CallbackCancelView.as_view(), name="callback_cancel"),
    path("cdrs/", views.CdrListView.as_view(), name="cdrs"),
    path("cdrs/<str:cdr_id>/", views.CdrDetailView.as_view(), name="cdr"),
    path("invoices/", views.InvoiceListView.as_view(), name="invoices"),
    path("balance/", views.BalanceView.as_view(), name="balance"),
    path("enterprises/", views.EnterpriseListView.as_view(), name="enterprises"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    # Last: every other address (one without its trailing slash is served as with it; the rest is a JSON 404).
    re_path(r"^(?P<rest>.*)$", views.unmatched, name="unmatched"),
]
