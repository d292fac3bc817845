"""Call detail records: one per leg of every finished attempt, a summary per call, and the tenant's recording choice.

A CDR is written once per (enterprise, Linkedid, leg) from the engine's hand-off, rated at once with the tenant's
plan, and settled against the call's reservation in the same transaction. Asterisk's own Cdr events are kept
beside the engine's timing: where they disagree by more than the tolerance the CDR says so and a warning is logged.
"""

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from billing.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS
from tenants.models import Enterprise

# What people read for a leg's disposition; the disposition itself stays the engine's code.
DISPOSITION_TEXT: dict[str, Promise] = {
    "answered": _("Answered"),
    "busy": _("Busy"),
    "no_answer": _("No answer"),
    "congestion": _("Congestion"),
    "rejected": _("Rejected"),
    "unallocated": _("Unallocated number"),
    "cancelled": _("Cancelled"),
    "not_dialled": _("Not dialled"),
    "failed": _("Failed"),
}


class CallDetailRecord(models.Model):
    class Leg(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise leg")
        VISITOR = "visitor", _("Visitor leg")

    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="cdrs")
    callback_request_id = models.BigIntegerField()
    attempt_id = models.BigIntegerField()
    role = models.CharField(_("leg"), max_length=12, choices=Leg.choices)
    number = models.CharField(_("number"), max_length=20)
    node_name = models.CharField(_("Asterisk node"), max_length=100)
    linkedid = models.CharField(_("Linkedid"), max_length=64)
    uniqueid = models.CharField(_("Uniqueid"), max_length=64, blank=True)
    started_at = models.DateTimeField(_("start"), null=True)
    answered_at = models.DateTimeField(_("answer"), null=True)
    ended_at = models.DateTimeField(_("end"), null=True)
    duration_seconds = models.PositiveIntegerField(_("duration (s)"), default=0)
    billable_seconds = models.PositiveIntegerField(_("billable (s)"), default=0)
    disposition = models.CharField(_("disposition"), max_length=20)
    hangup_cause = models.PositiveSmallIntegerField(_("Q.850 cause"), null=True)
    # What Asterisk's Cdr event said about this leg (None: no Cdr seen yet), and whether it disagrees with ours.
    asterisk_billable_seconds = models.PositiveIntegerField(_("Asterisk billable (s)"), null=True, blank=True)
    asterisk_disposition = models.CharField(_("Asterisk disposition"), max_length=20, blank=True)
    timing_mismatch_seconds = models.IntegerField(_("timing disagreement (s)"), null=True, blank=True)
    # Rating: filled by billing when the tenant has a plan; NULL charge = not rated (an unmetered tenant).
    charge = models.DecimalField(
        _("charge"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    billed_seconds = models.PositiveIntegerField(_("billed (s)"), null=True, blank=True)
    destination_group = models.CharField(_("destination group"), max_length=60, blank=True)
    tariff = models.CharField(_("tariff"), max_length=80, blank=True)  # "0.1200/min 6/6 +0.0000", as rated
    rated_at = models.DateTimeField(null=True, blank=True)
    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="cdrs", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("CDR")
        verbose_name_plural = _("CDRs")
        constraints = [
            # R5: a repeated or late hand-off never makes a second CDR for the same leg.
            models.UniqueConstraint(fields=["enterprise", "linkedid", "role"], name="cdr_unique_leg"),
            models.CheckConstraint(
                condition=models.Q(charge__gte=0) | models.Q(charge__isnull=True), name="cdr_charge"
            ),
        ]
        indexes = [
            models.Index(fields=["enterprise", "-started_at"]),
            # Only what invoicing needs: every index a CDR carries is written again when an invoice claims it.
            models.Index(fields=["enterprise", "ended_at"], name="cdr_uninvoiced", condition=models.Q(invoice=None)),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.number} {self.disposition} {self.billable_seconds}s"

    @property
    def disposition_display(self) -> str:
        return str(DISPOSITION_TEXT.get(self.disposition, self.disposition))


class CallSummary(models.Model):
    """One call (one attempt, one Linkedid) as the enterprise sees it: both legs, timings, outcome, recording."""

    class FailedLeg(models.TextChoices):
        NONE = "", _("None")
        ENTERPRISE = "enterprise", _("Enterprise leg")
        VISITOR = "visitor", _("Visitor leg")
        NOT_PLACED = "not_placed", _("Never reached a phone")

    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="call_summaries")
    callback_request_id = models.BigIntegerField(db_index=True)
    attempt_id = models.BigIntegerField(unique=True)
    linkedid = models.CharField(_("Linkedid"), max_length=64)
    node_name = models.CharField(_("Asterisk node"), max_length=100)
    enterprise_number = models.CharField(_("enterprise number"), max_length=20, blank=True)
    visitor_number = models.CharField(_("visitor number"), max_length=20, blank=True)
    requested_at = models.DateTimeField(_("requested at"), null=True)  # the visitor's click
    placed_at = models.DateTimeField(_("placed at"), null=True)  # the Originate: the first leg starts ringing
    first_answered_at = models.DateTimeField(null=True)
    connected_at = models.DateTimeField(_("connected at"), null=True)
    ended_at = models.DateTimeField(_("ended at"), null=True)
    connected = models.BooleanField(_("connected"), default=False)
    failed_leg = models.CharField(_("failed leg"), max_length=12, choices=FailedLeg.choices, blank=True)
    talk_seconds = models.PositiveIntegerField(_("talk (s)"), default=0)
    charge = models.DecimalField(
        _("charge"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, null=True, blank=True
    )
    currency = models.CharField(max_length=3, blank=True)
    recording_file = models.CharField(_("recording"), max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-placed_at"]
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        constraints = [models.UniqueConstraint(fields=["enterprise", "linkedid"], name="call_summary_unique_call")]
        indexes = [models.Index(fields=["enterprise", "-placed_at"]), models.Index(fields=["enterprise", "ended_at"])]

    def __str__(self) -> str:
        return f"{self.linkedid} ({'connected' if self.connected else self.failed_leg})"


class RecordingSetting(models.Model):
    """Whether the tenant records its calls; when on, visitors are told so before they press Call."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="recording_setting")
    enabled = models.BooleanField(_("record calls"), default=False)
    notice = models.CharField(
        _("notice shown to visitors"),
        max_length=300,
        blank=True,
        help_text=_("Empty: the standard notice that the call may be recorded."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("recording setting")
        verbose_name_plural = _("recording settings")

    def __str__(self) -> str:
        return f"{self.enterprise_id}: {'on' if self.enabled else 'off'}"
