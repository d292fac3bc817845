from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallbackConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "callback"
    verbose_name = _("Callbacks")
