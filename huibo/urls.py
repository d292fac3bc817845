from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path, reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from cdr import views as cdr_views

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("captcha/", include("captcha.urls")),
    path("", include("integrations.urls")),
    path("api/v1/", include("integrations.api.urls", namespace="api")),
    path("", include("widget.urls")),
]
# The admin's "View site" leads operator staff to their console.
admin.site.site_url = reverse_lazy("console:live_calls")
admin.site.site_header = admin.site.site_title = _("Huibo administration")

urlpatterns += i18n_patterns(
    # The portal's home: an enterprise admin's dashboard, the console for operator staff, else the login page.
    path("", RedirectView.as_view(pattern_name="portal:dashboard"), name="home"),
    path("admin/", admin.site.urls),
    path("portal/", include("tenants.urls", namespace="portal")),
    path("console/", include("huibo.console_urls", namespace="console")),
    path("portal/integrations/", include("integrations.portal_urls", namespace="integrations")),
    path("portal/widget/", include("widget.portal_urls")),
    path("portal/calls/", include("cdr.urls", namespace="cdr")),
    path("portal/billing/", include("billing.urls", namespace="billing")),
    path("portal/dashboard/billing/", cdr_views.dashboard, name="billing_dashboard"),
    prefix_default_language=False,
)
