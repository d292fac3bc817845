"""Create the demo enterprise, its admin and an operator account; safe to run again."""

from datetime import time

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from tenants import services
from tenants.models import Enterprise, Membership

DEMO_PASSWORD = "huibo-demo"
# The simulator picks a phone's behaviour from its last four digits (asterisk/simulator):
# 1100 answers and stays up, 2000 is busy, 3000 never answers.
DEMO_BOUND_NUMBERS = [("+8613800001100", "Front desk"), ("+8613800002000", "Sales (always busy)")]


class Command(BaseCommand):
    help = "Create the demo enterprise with bound numbers, its admin and an operator account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--site", default="http://127.0.0.1:8000", help="the demo's own origin, where its widget demo page is"
        )

    def handle(self, *args: object, **options: object) -> None:
        from widget import selectors as widget_selectors
        from widget import services as widget_services

        with transaction.atomic():
            enterprise = Enterprise.objects.filter(slug="demo").first()
            if enterprise is None:
                enterprise = services.enterprise_create(name="Demo Trading Co.", slug="demo", time_zone="Asia/Shanghai")
                for priority, (number, label) in enumerate(DEMO_BOUND_NUMBERS, start=1):
                    services.bound_number_create(enterprise=enterprise, number=number, label=label, priority=priority)
                services.working_hours_replace(
                    enterprise=enterprise,
                    intervals=[services.OpeningInterval(day, time(0, 0), time(23, 59)) for day in range(7)],
                )
                services.enterprise_update(enterprise=enterprise, status=Enterprise.Status.ACTIVE)
                # A prepaid account with the standard rates, so the demo's calls are rated and billed.
                call_command("billing_open_account", "demo", "--top-up", "100", verbosity=0)
            users = get_user_model().objects
            if not users.filter(username="operator").exists():
                users.create_superuser("operator", "operator@example.com", DEMO_PASSWORD)
            if not users.filter(username="demo-admin").exists():
                admin = users.create_user("demo-admin", "admin@example.com", DEMO_PASSWORD)
                Membership.objects.create(user=admin, enterprise=enterprise, role=Membership.Role.OWNER)
            # The widget demo page is served from the demo's own origin: the widget must accept it.
            origins = widget_selectors.widget_of(enterprise=enterprise).settings.allowed_origins
            if str(options["site"]) not in origins:
                widget_services.widget_settings_update(
                    enterprise=enterprise, allowed_origins=[*origins, str(options["site"])]
                )
        self.stdout.write(f"operator staff:   operator / {DEMO_PASSWORD}")
        self.stdout.write(f"enterprise admin: demo-admin / {DEMO_PASSWORD}")
