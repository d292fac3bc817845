from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WidgetConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "widget"
    verbose_name = _("Website widget")

    def ready(self) -> None:
        from widget import checks  # noqa: F401  (registers the system checks)
