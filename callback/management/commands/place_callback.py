"""``manage.py place_callback <enterprise> <visitor-number>``: place a callback as the widget does, and watch it."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from callback.models import CallbackRequest
from callback.reasons import reason_text
from callback.selectors import callback_request_events
from callback.services.nodes import nodes_sync_from_settings
from callback.services.requests import callback_request_create
from callback.statemachine import FINAL_STATUSES, Status
from huibo.errors import ApplicationError
from tenants.models import Enterprise


class Command(BaseCommand):
    help = "Place a callback through the normal path (Celery worker, AMI, listener) and print each state change."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("enterprise", help="the enterprise's short name (slug) or id")
        parser.add_argument("visitor_number", help="the number to call back, E.164 or national")
        parser.add_argument("--timeout", type=float, default=300.0, help="give up watching after this many seconds")

    def handle(self, *args: object, **options: object) -> None:
        key = str(options["enterprise"])
        enterprise = Enterprise.objects.filter(slug=key).first() or (
            Enterprise.objects.filter(pk=int(key)).first() if key.isdigit() else None
        )
        if enterprise is None:
            raise CommandError(f"No enterprise {key!r}.")
        nodes_sync_from_settings(urls=settings.HUIBO_ASTERISK_NODES)
        try:
            request = callback_request_create(
                enterprise=enterprise,
                visitor_number=str(options["visitor_number"]),
                source=CallbackRequest.Source.SHELL,
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"request #{request.pk}: {request.visitor_number} → {enterprise.name}")
        seen = 0
        deadline = time.monotonic() + float(options["timeout"])  # type: ignore[arg-type]
        while time.monotonic() < deadline:
            events = list(callback_request_events(request=request)[seen:])
            for event in events:
                why = f" ({reason_text(event.reason_code)})" if event.reason_code else ""
                self.stdout.write(f"{event.created_at:%H:%M:%S.%f}"[:-3] + f"  {event.to_status}{why}")
            seen += len(events)
            request.refresh_from_db(fields=["status"])
            if Status(request.status) in FINAL_STATUSES:
                return
            time.sleep(0.2)  # a person watching: polling the table is plenty
        raise CommandError(f"request #{request.pk} still {request.status} after {options['timeout']} s")
