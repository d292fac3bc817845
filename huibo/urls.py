from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("captcha/", include("captcha.urls")),
]
urlpatterns += i18n_patterns(
    path("admin/", admin.site.urls),
    path("portal/", include("tenants.urls", namespace="portal")),
    path("console/", include("huibo.console_urls", namespace="console")),
    prefix_default_language=False,
)
