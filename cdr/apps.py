from django.apps import AppConfig


class CdrConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cdr"
