from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CdrConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cdr"
    verbose_name = _("Call records")
