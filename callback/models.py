"""Callback requests, their attempts and legs, their state history, and the Asterisk nodes.

A CallbackRequest is what a visitor asked for. Each Originate Huibo sends for it is a
CallAttempt (one bound number, or the hunting group for simultaneous ring), with up to two
CallLegs. The request's ``status`` moves only through callback.services.request_transition,
which follows callback.statemachine and writes a CallbackEvent row for every move.
"""

import uuid

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from callback.statemachine import Status
from tenants.models import BoundNumber, Enterprise


class AsteriskNode(models.Model):
    class AmiState(models.TextChoices):
        UNKNOWN = "unknown", _("Unknown")
        UP = "up", _("Up")
        DOWN = "down", _("Down")

    name = models.CharField(_("name"), max_length=100, unique=True)
    host = models.CharField(_("host"), max_length=255)
    port = models.PositiveIntegerField(_("AMI port"), default=5038)
    username = models.CharField(_("AMI user"), max_length=100)
    secret = models.CharField(_("AMI secret"), max_length=255)
    channel_capacity = models.PositiveIntegerField(_("callbacks at once"), default=200)
    enabled = models.BooleanField(_("enabled"), default=True)
    ami_state = models.CharField(_("AMI state"), max_length=10, choices=AmiState.choices, default=AmiState.UNKNOWN)
    ami_state_changed_at = models.DateTimeField(null=True, blank=True)
    ami_state_reason = models.CharField(max_length=200, blank=True)
    # When Asterisk last booted (login time minus FullyBooted Uptime): a later boot means it restarted.
    booted_at = models.DateTimeField(null=True, blank=True)
    from_environment = models.BooleanField(default=False, editable=False)
    # Attempts ever placed through this node; minus NodeCallsEnded.calls_ended, its load (callback.services.nodes).
    calls_placed = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("Asterisk node")
        verbose_name_plural = _("Asterisk nodes")

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port})"


class NodeCallsEnded(models.Model):
    """How many of a node's attempts have ended. A row of its own, so that ending a call (the listener, in its
    batch transaction) and placing one (which bumps AsteriskNode.calls_placed) never wait for each other."""

    node = models.OneToOneField(AsteriskNode, on_delete=models.CASCADE, primary_key=True, related_name="+")
    calls_ended = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("calls ended on a node")
        verbose_name_plural = _("calls ended per node")

    def __str__(self) -> str:
        return f"{self.calls_ended} ended on node {self.node_id}"


# What people read for a request's status; the status itself stays a callback.statemachine.Status code.
STATUS_TEXT: dict[Status, Promise] = {
    Status.ACCEPTED: _("Accepted"),
    Status.SCHEDULED: _("Scheduled"),
    Status.DIALING_ENTERPRISE: _("Calling the enterprise"),
    Status.ENTERPRISE_ANSWERED: _("Enterprise answered"),
    Status.DIALING_VISITOR: _("Calling the visitor"),
    Status.VISITOR_ANSWERED: _("Visitor answered"),
    Status.CONNECTED: _("Connected"),
    Status.COMPLETED: _("Completed"),
    Status.FAILED: _("Failed"),
    Status.CANCELLED: _("Cancelled"),
    Status.EXPIRED: _("Expired"),
}


class CallbackRequest(models.Model):
    class Source(models.TextChoices):
        WIDGET = "widget", _("Website widget")
        API = "api", _("API")
        SHELL = "shell", _("Operator shell")

    # Indexed by the (enterprise, …) indexes below: every submission writes each index the table has.
    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.PROTECT, related_name="callback_requests", db_index=False
    )
    visitor_number = models.CharField(_("visitor number"), max_length=20)
    status = models.CharField(_("status"), max_length=24, default=Status.ACCEPTED)
    # Copied from the enterprise when accepted, so a settings change never turns a call around mid-way.
    call_order = models.CharField(max_length=20)
    # A callback.reasons.Reason: why it waits or why it ended; shown to people through reason_text().
    reason_code = models.CharField(max_length=40, blank=True)
    detail = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WIDGET)
    due_at = models.DateTimeField(_("due at"), db_index=True)
    # A request still waiting for a free line past this instant expires instead of ringing late.
    expires_at = models.DateTimeField()
    attempts_made = models.PositiveIntegerField(default=0)
    visitor_retries_left = models.PositiveSmallIntegerField(default=0)
    # Which bound numbers this round of hunting has already offered the call to.
    hunted_numbers = models.JSONField(default=list, blank=True)
    answered_by = models.ForeignKey(BoundNumber, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    correlation_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("callback request")
        verbose_name_plural = _("callback requests")
        indexes = [
            models.Index(fields=["enterprise", "status"]),
            models.Index(fields=["enterprise", "-created_at"]),
            # every submission's in-flight checks look a visitor number up across tenants
            models.Index(fields=["visitor_number"], name="callback_request_visitor_idx"),
            # A plain index: db_index on a CharField adds a second one for LIKE, which no query uses.
            models.Index(fields=["status"], name="callback_request_status_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.visitor_number} → {self.enterprise} ({self.status})"

    @property
    def status_display(self) -> str:
        try:
            return str(STATUS_TEXT[Status(self.status)])
        except ValueError:
            return self.status


class CallbackEvent(models.Model):
    """One move of a request's state machine: when, why, and from what."""

    request = models.ForeignKey(CallbackRequest, on_delete=models.CASCADE, related_name="events")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    from_status = models.CharField(max_length=24)
    to_status = models.CharField(max_length=24)
    event = models.CharField(max_length=24)
    reason_code = models.CharField(max_length=40, blank=True)
    detail = models.CharField(max_length=200, blank=True)
    attempt = models.ForeignKey("CallAttempt", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("callback event")
        verbose_name_plural = _("callback events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status} ({self.event})"


# The values of LIVE_ATTEMPT_STATUSES (below, once CallAttempt.Status exists), for CallAttempt's partial indexes.
_LIVE = ("placing", "originated", "first_answered", "connected")
_RINGING = _LIVE[:2]


class CallAttempt(models.Model):
    """One Originate: its ids are fixed before it is sent, so every AMI event maps back to it."""

    class Status(models.TextChoices):
        PLACING = "placing", _("Placing")
        ORIGINATED = "originated", _("Originated")
        FIRST_ANSWERED = "first_answered", _("First leg answered")
        CONNECTED = "connected", _("Connected")
        ENDED = "ended", _("Ended")

    request = models.ForeignKey(CallbackRequest, on_delete=models.CASCADE, related_name="attempts")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    node = models.ForeignKey(AsteriskNode, on_delete=models.PROTECT, related_name="attempts")
    bound_number = models.ForeignKey(BoundNumber, on_delete=models.SET_NULL, null=True, related_name="+")
    # The number that rang, or for a ring group the one that answered (the group's first until one does).
    enterprise_number = models.CharField(max_length=20)
    # Simultaneous ring: every member rung at once, as [{"bound_number_id": …, "number": E.164}]; empty otherwise.
    ring_group = models.JSONField(default=list, blank=True)
    visitor_number = models.CharField(max_length=20)
    action_id = models.CharField(max_length=64, unique=True)
    # ChannelId of the first leg's ;1 half; Asterisk makes it the Linkedid of every channel of the call.
    channel_id = models.CharField(max_length=64, unique=True)
    other_channel_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLACING)
    outcome = models.CharField(max_length=40, blank=True)
    originate_sent_at = models.DateTimeField(null=True, blank=True)
    first_answered_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    max_seconds = models.PositiveIntegerField(default=0)
    # The longest its phones can ring before Asterisk gives up on them (first leg, the agent's confirmation, second
    # leg): the reaper ends an attempt Asterisk never reported on once that and a grace are over. Attempts placed
    # before it was stored count the longest ring any can have.
    ring_seconds = models.PositiveIntegerField(default=120 + 120)
    # Asterisk's own Cdr events for this call, kept as sent for the CDR ingestion to reconcile.
    asterisk_cdrs = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("call attempt")
        verbose_name_plural = _("call attempts")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["request", "number"], name="attempt_number_unique")]
        # Only the live attempts, a few among all ever made: what the enterprise's concurrency cap, the busy
        # numbers and the node reconciliation count.
        indexes = [
            models.Index(fields=[field], condition=models.Q(status__in=_LIVE), name=f"attempt_live_{name}")
            for field, name in (("enterprise", "enterprise"), ("node", "node"), ("enterprise_number", "number"))
        ] + [
            # Plain: db_index on a CharField adds a LIKE index too, written on every move of every attempt.
            models.Index(fields=["status"], name="callback_attempt_status_idx"),
            # The ring groups still ringing, on any enterprise: each holds all its members busy.
            models.Index(
                fields=["id"],
                condition=models.Q(status__in=_RINGING) & ~models.Q(ring_group=[]),
                name="attempt_ringing_group",
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of request {self.request_id}"


# An attempt in one of these may have a phone ringing or talking: it holds a line and node capacity.
LIVE_ATTEMPT_STATUSES = (
    CallAttempt.Status.PLACING,
    CallAttempt.Status.ORIGINATED,
    CallAttempt.Status.FIRST_ANSWERED,
    CallAttempt.Status.CONNECTED,
)
assert LIVE_ATTEMPT_STATUSES == _LIVE
# An attempt in one of these is still ringing: a ring group in it holds every member (the partial index above).
RINGING_ATTEMPT_STATUSES = (CallAttempt.Status.PLACING, CallAttempt.Status.ORIGINATED)
assert RINGING_ATTEMPT_STATUSES == _RINGING


class CallLeg(models.Model):
    """One of the two phone calls of an attempt, as Asterisk reported it."""

    class Role(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise leg")
        VISITOR = "visitor", _("Visitor leg")

    attempt = models.ForeignKey(CallAttempt, on_delete=models.CASCADE, related_name="legs")
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=12, choices=Role.choices)
    number = models.CharField(max_length=20)
    disposition = models.CharField(max_length=20, blank=True)  # answered, busy, no_answer, congestion, failed
    hangup_cause = models.PositiveSmallIntegerField(null=True, blank=True)  # Q.850
    hangup_cause_text = models.CharField(max_length=60, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    hung_up_first = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("call leg")
        verbose_name_plural = _("call legs")
        constraints = [models.UniqueConstraint(fields=["attempt", "role"], name="leg_role_unique_per_attempt")]

    def __str__(self) -> str:
        return f"{self.role} leg {self.number} ({self.disposition})"
