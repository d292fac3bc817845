from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        # Carrying the request id into Celery tasks is plumbing, not business logic: Celery's publish and
        # prerun hooks are the one place every task passes through (see integrations/logs.py).
        from integrations import logs

        logs.connect_celery_request_id()
