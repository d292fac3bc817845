"""Call detail records: one per leg of every finished attempt, the basis of billing and of the enterprise's records."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Enterprise


class CallDetailRecord(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="cdrs")
    callback_request_id = models.BigIntegerField(db_index=True)
    attempt_id = models.BigIntegerField()
    role = models.CharField(_("leg"), max_length=12)  # enterprise / visitor
    number = models.CharField(_("number"), max_length=20)
    node_name = models.CharField(_("Asterisk node"), max_length=100)
    linkedid = models.CharField(max_length=64)
    started_at = models.DateTimeField(_("start"), null=True)
    answered_at = models.DateTimeField(_("answer"), null=True)
    ended_at = models.DateTimeField(_("end"), null=True)
    duration_seconds = models.PositiveIntegerField(_("duration (s)"), default=0)
    billable_seconds = models.PositiveIntegerField(_("billable (s)"), default=0)
    disposition = models.CharField(_("disposition"), max_length=20)
    hangup_cause = models.PositiveSmallIntegerField(_("Q.850 cause"), null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("CDR")
        verbose_name_plural = _("CDRs")
        constraints = [
            # R5: a repeated or late hand-off never makes a second CDR for the same leg.
            models.UniqueConstraint(fields=["enterprise", "linkedid", "role"], name="cdr_unique_leg"),
        ]
        indexes = [models.Index(fields=["enterprise", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.role} {self.number} {self.disposition} {self.billable_seconds}s"
