"""System checks: the captcha test mode can never ship (S6), and the limits need Redis outside the demo."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from widget.captcha import running_tests


@register()
def captcha_test_mode_off_in_production(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if settings.WIDGET_CAPTCHA_TEST_MODE and not settings.DEBUG and not running_tests():
        return [
            Error(
                "WIDGET_CAPTCHA_TEST_MODE is on while DEBUG is off: any captcha answer 'PASSED' would be accepted.",
                hint="Unset WIDGET_CAPTCHA_TEST_MODE. It is for tests and a developer's DEBUG server only.",
                id="widget.E001",
            )
        ]
    return []


@register()
def shared_store_outside_the_demo(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    if not settings.WIDGET_REDIS_URL and not settings.DEBUG and not getattr(settings, "EMBEDDED", False):
        return [
            Warning(
                "WIDGET_REDIS_URL (or REDIS_URL) is not set: the widget's limits and captchas live in one process.",
                hint="Set REDIS_URL so that every web worker shares the same limits.",
                id="widget.W001",
            )
        ]
    return []
