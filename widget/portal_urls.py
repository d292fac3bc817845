"""The widget's pages in the enterprise portal, under /portal/widget/ (inside the language prefixes)."""

from django.urls import path

from widget import portal_views

app_name = "widget_portal"

urlpatterns = [
    path("", portal_views.widget_settings, name="settings"),
    path("leads/", portal_views.lead_list, name="leads"),
    path("leads.csv", portal_views.lead_export, name="leads_csv"),
    path("blacklist/", portal_views.blacklist, name="blacklist"),
    path("blacklist/<int:pk>/lift/", portal_views.blacklist_lift, name="blacklist_lift"),
]
