"""Start billing an enterprise from the shell: a rate plan (the standard one is created if missing), an account,
and an opening top-up. ``manage.py billing_open_account demo --top-up 100``."""

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing import services
from billing.models import RatePlan
from huibo.errors import ApplicationError
from tenants.models import Enterprise

STANDARD_RATES = [
    # (destination group, prefix, number type, price per minute, increment)
    ("China mobile", "", "mobile", "0.12", "6/6"),
    ("China fixed line", "", "fixed_line", "0.10", "6/6"),
    ("International", "", "international", "1.20", "30/6"),
]


class Command(BaseCommand):
    help = "Open a billing account for an enterprise (by its short name) with an opening top-up."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("enterprise", help="the enterprise's short name (slug)")
        parser.add_argument("--plan", default="Standard", help="rate plan name (created with standard rates if new)")
        parser.add_argument("--top-up", default="100", help="opening balance")
        parser.add_argument("--credit-limit", default="0")
        parser.add_argument("--language", default="zh-hans")

    def handle(self, *args: Any, **options: Any) -> None:
        enterprise = Enterprise.objects.filter(slug=options["enterprise"]).first()
        if enterprise is None:
            raise CommandError(f"No enterprise with short name {options['enterprise']!r}.")
        plan = RatePlan.objects.filter(name=options["plan"]).first()
        try:
            if plan is None:
                plan = services.rate_plan_create(name=options["plan"])
                for group, prefix, number_type, price, increment in STANDARD_RATES:
                    services.rate_create(
                        plan=plan,
                        destination_group=group,
                        prefix=prefix,
                        number_type=number_type,
                        price_per_minute=Decimal(price),
                        increment=increment,
                    )
            services.account_open(
                enterprise=enterprise,
                rate_plan=plan,
                credit_limit=Decimal(options["credit_limit"]),
                language=options["language"],
            )
            if Decimal(options["top_up"]) > 0:
                services.balance_top_up(
                    enterprise=enterprise,
                    amount=Decimal(options["top_up"]),
                    reason="opening balance (billing_open_account)",
                    key=f"opening:{enterprise.pk}",
                )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"{enterprise.name}: billed on {plan.name}, balance {options['top_up']} {plan.currency}")
