"""The widget's public URLs, outside the language prefixes: the script and the versioned JSON API."""

from django.urls import path, re_path

from widget import api

app_name = "widget"
_CAPTCHA = r"api/widget/v1/captcha/(?P<captcha_key>[0-9a-f]{40})"

urlpatterns = [
    re_path(r"^widget/(?P<key>[A-Za-z0-9_-]{1,40})\.js$", api.script, name="script"),
    re_path(r"^widget/demo/(?P<key>[A-Za-z0-9_-]{1,40})/$", api.demo_page, name="demo"),
    path("api/widget/v1/<str:key>/config", api.config, name="config"),
    path("api/widget/v1/<str:key>/captcha", api.captcha_new, name="captcha"),
    path("api/widget/v1/<str:key>/requests", api.submit, name="submit"),
    path("api/widget/v1/<str:key>/requests/<uuid:request_id>", api.request_status, name="status"),
    path("api/widget/v1/<str:key>/requests/<uuid:request_id>/events", api.request_events, name="events"),
    re_path(
        r"^api/widget/v1/captcha/(?P<captcha_key>[0-9a-f]{40})(?P<scale>@2x)?\.png$",
        api.captcha_image,
        name="captcha_image",
    ),
    re_path(r"^api/widget/v1/captcha/(?P<captcha_key>[0-9a-f]{40})\.wav$", api.captcha_audio, name="captcha_audio"),
]
