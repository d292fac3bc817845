"""Every change to a plan's rates, from the services or the admin, moves the plan's ``rates_version``."""

from typing import Any

from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from billing.models import Rate, RatePlan


@receiver(post_save, sender=Rate)
@receiver(post_delete, sender=Rate)
def _rates_changed(sender: type[Rate], instance: Rate, **_kwargs: Any) -> None:
    RatePlan.objects.filter(pk=instance.plan_id).update(rates_version=F("rates_version") + 1)
