"""Tenants: the Enterprise, its admins, its bound numbers and its opening hours.

Every row a tenant owns carries ``enterprise``; selectors take it as a
required argument so another tenant's rows are never reachable.
"""

import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown time zone: %(zone)s"), params={"zone": value})


def new_public_key() -> str:
    return secrets.token_urlsafe(16)


class Enterprise(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    class CallOrder(models.TextChoices):
        ENTERPRISE_FIRST = "enterprise_first", _("Enterprise first")
        VISITOR_FIRST = "visitor_first", _("Visitor first")

    class HuntingStrategy(models.TextChoices):
        SEQUENTIAL = "sequential", _("Sequential")
        ROUND_ROBIN = "round_robin", _("Round robin")
        SIMULTANEOUS = "simultaneous", _("Simultaneous ring")

    name = models.CharField(_("name"), max_length=200, unique=True)
    slug = models.SlugField(_("short name"), max_length=60, unique=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_time_zone]
    )
    default_country = models.CharField(_("default country"), max_length=2, default="CN")
    caller_id = models.CharField(
        _("caller ID shown to visitors"), max_length=20, blank=True, help_text=_("E.164, for example +864001234567")
    )
    call_order = models.CharField(
        _("call order"), max_length=20, choices=CallOrder.choices, default=CallOrder.ENTERPRISE_FIRST
    )
    hunting_strategy = models.CharField(
        _("hunting strategy"), max_length=20, choices=HuntingStrategy.choices, default=HuntingStrategy.SEQUENTIAL
    )
    ring_timeout_seconds = models.PositiveSmallIntegerField(_("ring timeout (s)"), default=20)
    max_concurrent_calls = models.PositiveSmallIntegerField(_("max concurrent calls"), default=5)
    sticky_routing = models.BooleanField(_("offer returning visitors to their last agent"), default=False)
    agent_confirmation = models.BooleanField(_("agent presses 1 to accept"), default=False)
    visitor_retries = models.PositiveSmallIntegerField(_("retries when the visitor does not answer"), default=1)
    visitor_retry_spacing_seconds = models.PositiveIntegerField(_("seconds between retries"), default=120)
    public_key = models.CharField(max_length=40, unique=True, default=new_public_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("enterprise")
        verbose_name_plural = _("enterprises")
        constraints = [
            models.CheckConstraint(condition=models.Q(ring_timeout_seconds__gte=5), name="enterprise_ring_timeout_min"),
            models.CheckConstraint(condition=models.Q(max_concurrent_calls__gte=1), name="enterprise_concurrency_min"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Visitor first, the enterprise is the second leg, dialled by [huibo-callback] one number at a time.
        simultaneous = self.hunting_strategy == self.HuntingStrategy.SIMULTANEOUS
        if simultaneous and self.call_order == self.CallOrder.VISITOR_FIRST:
            raise ValidationError({"hunting_strategy": _('Simultaneous ring needs the call order "Enterprise first".')})


class Membership(models.Model):
    """Makes a user an enterprise admin of exactly one enterprise."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        ADMIN = "admin", _("Admin")
        VIEWER = "viewer", _("Viewer (read only)")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.ADMIN)

    class Meta:
        verbose_name = _("enterprise admin")
        verbose_name_plural = _("enterprise admins")

    def __str__(self) -> str:
        return f"{self.user} @ {self.enterprise}"

    @property
    def can_edit(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class BoundNumber(models.Model):
    """A phone of the enterprise that Huibo rings: landline, mobile or SIP, in E.164."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="bound_numbers")
    number = models.CharField(_("number"), max_length=20)
    label = models.CharField(_("label"), max_length=100, blank=True)
    priority = models.PositiveSmallIntegerField(_("order"), default=1, help_text=_("Lower rings first."))
    enabled = models.BooleanField(_("enabled"), default=True)
    ring_timeout_seconds = models.PositiveSmallIntegerField(
        _("ring timeout (s)"), null=True, blank=True, help_text=_("Empty: the enterprise's ring timeout.")
    )

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("bound number")
        verbose_name_plural = _("bound numbers")
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "number"], name="bound_number_unique_per_enterprise"),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.label})" if self.label else self.number

    @property
    def effective_ring_timeout(self) -> int:
        return self.ring_timeout_seconds or self.enterprise.ring_timeout_seconds


class WorkingHours(models.Model):
    """One opening interval on one weekday, in the enterprise's time zone."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens_at = models.TimeField(_("opens at"))
    closes_at = models.TimeField(_("closes at"))

    class Meta:
        ordering = ["weekday", "opens_at"]
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        constraints = [
            models.CheckConstraint(condition=models.Q(opens_at__lt=models.F("closes_at")), name="hours_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"


class Holiday(models.Model):
    """A date the enterprise is closed all day."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        constraints = [models.UniqueConstraint(fields=["enterprise", "date"], name="holiday_unique_per_enterprise")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"
