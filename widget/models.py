"""The embeddable widget: its look per enterprise, the operator's policy, blacklists, leads and the abuse log.

``WidgetSettings`` is what an enterprise admin edits (looks, texts, allowed origins and countries);
``WidgetPolicy`` is what only the operator edits (limits overriding the RELIABILITY.md defaults, number types,
international calls). A ``Lead`` is the marketing context of one accepted callback request;
an ``AbuseEvent`` is one refused submission, for the operator to read.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from callback.models import CallbackRequest
from tenants.models import Enterprise


class WidgetSettings(models.Model):
    class Position(models.TextChoices):
        BOTTOM_RIGHT = "bottom_right", _("Bottom right")
        BOTTOM_LEFT = "bottom_left", _("Bottom left")

    class Language(models.TextChoices):
        AUTO = "auto", _("The visitor's browser language")
        EN = "en", _("English")
        ZH_HANS = "zh-hans", _("Simplified Chinese")

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="widget_settings")
    enabled = models.BooleanField(_("widget enabled"), default=True)
    primary_color = models.CharField(_("main colour"), max_length=7, default="#c0392b")
    text_color = models.CharField(_("text colour on the main colour"), max_length=7, default="#ffffff")
    position = models.CharField(_("position"), max_length=20, choices=Position.choices, default=Position.BOTTOM_RIGHT)
    language = models.CharField(_("language"), max_length=10, choices=Language.choices, default=Language.AUTO)
    title = models.CharField(_("title"), max_length=60, blank=True, help_text=_("Empty: “Call me back”."))
    intro = models.CharField(_("introduction"), max_length=200, blank=True)
    button_label = models.CharField(_("button label"), max_length=30, blank=True, help_text=_("Empty: “Call”."))
    # Normalised origins (scheme://host[:port]); "https://*.example.com" allows every subdomain.
    allowed_origins = models.JSONField(_("allowed origins"), default=list, blank=True)
    # ISO 3166 codes the visitor may pick; empty means the enterprise's default country only.
    allowed_countries = models.JSONField(_("allowed countries"), default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("widget settings")
        verbose_name_plural = _("widget settings")

    def __str__(self) -> str:
        return str(self.enterprise)


class WidgetPolicy(models.Model):
    """The operator's per-tenant policy. An empty limit means the default from the settings (S1–S7)."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="widget_policy")
    allow_international = models.BooleanField(
        _("allow international numbers"), default=False, help_text=_("Numbers outside the enterprise's country.")
    )
    # widget.numbers.OPTIONAL_NUMBER_TYPES the operator allows on top of fixed-line and mobile numbers.
    allowed_number_types = models.JSONField(_("also allowed number types"), default=list, blank=True)
    number_max_in_flight = models.PositiveIntegerField(_("number: requests in flight"), null=True, blank=True)
    number_per_10_minutes = models.PositiveIntegerField(_("number: per 10 minutes"), null=True, blank=True)
    number_per_day = models.PositiveIntegerField(_("number: per 24 hours"), null=True, blank=True)
    client_per_minute = models.PositiveIntegerField(_("client: per minute"), null=True, blank=True)
    client_per_hour = models.PositiveIntegerField(_("client: per hour"), null=True, blank=True)
    client_numbers_per_hour = models.PositiveIntegerField(_("client: distinct numbers per hour"), null=True, blank=True)
    client_numbers_per_day = models.PositiveIntegerField(_("client: distinct numbers per day"), null=True, blank=True)
    enterprise_per_hour = models.PositiveIntegerField(_("enterprise: per hour"), null=True, blank=True)
    enterprise_per_day = models.PositiveIntegerField(_("enterprise: per 24 hours"), null=True, blank=True)

    class Meta:
        verbose_name = _("widget policy")
        verbose_name_plural = _("widget policies")

    def __str__(self) -> str:
        return str(self.enterprise)


class BlacklistEntry(models.Model):
    """A number or a client (IP address) that may not submit: for every tenant, or for one."""

    class Kind(models.TextChoices):
        NUMBER = "number", _("Phone number")
        CLIENT = "client", _("Client (IP address)")

    class Source(models.TextChoices):
        MANUAL = "manual", _("Added by hand")
        AUTOMATIC = "automatic", _("Blocked automatically")

    # Empty: the operator's global blacklist.
    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, null=True, blank=True, related_name="widget_blacklist"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.NUMBER)
    value = models.CharField(_("number or address"), max_length=64)
    is_prefix = models.BooleanField(_("every number starting with this"), default=False)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.MANUAL)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, help_text=_("Empty: until lifted."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("blacklist entry")
        verbose_name_plural = _("blacklist")
        indexes = [models.Index(fields=["kind", "value"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}{'*' if self.is_prefix else ''}"


class Lead(models.Model):
    """Where an accepted widget request came from: page, campaign, browser."""

    # Indexed by (enterprise, -created_at) below: every accepted submission writes each index.
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="widget_leads", db_index=False)
    callback_request = models.OneToOneField(CallbackRequest, on_delete=models.CASCADE, related_name="widget_lead")
    page_url = models.CharField(_("page"), max_length=1000, blank=True)
    referrer = models.CharField(_("referrer"), max_length=1000, blank=True)
    utm_source = models.CharField(_("UTM source"), max_length=200, blank=True)
    utm_medium = models.CharField(_("UTM medium"), max_length=200, blank=True)
    utm_campaign = models.CharField(_("UTM campaign"), max_length=200, blank=True)
    utm_term = models.CharField(_("UTM term"), max_length=200, blank=True)
    utm_content = models.CharField(_("UTM content"), max_length=200, blank=True)
    user_agent = models.CharField(_("browser"), max_length=400, blank=True)
    language = models.CharField(_("language"), max_length=35, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        indexes = [models.Index(fields=["enterprise", "-created_at"])]

    def __str__(self) -> str:
        return f"lead {self.pk} → request {self.callback_request_id}"


class AbuseEvent(models.Model):
    """One refused or suspicious submission: what the operator reads to see who is attacking whom."""

    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, null=True, blank=True, related_name="widget_abuse_events"
    )
    code = models.CharField(_("code"), max_length=40, db_index=True)
    number = models.CharField(_("number"), max_length=40, blank=True)
    client_ip = models.GenericIPAddressField(_("client"), null=True, blank=True)
    origin = models.CharField(_("origin"), max_length=200, blank=True)
    user_agent = models.CharField(_("browser"), max_length=200, blank=True)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("abuse log entry")
        verbose_name_plural = _("abuse log")

    def __str__(self) -> str:
        return f"{self.code} {self.number or self.client_ip or ''}"
