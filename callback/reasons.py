"""Why a callback request is waiting or ended: a stable code for the API, a sentence for people."""

from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Reason(StrEnum):
    OUTSIDE_WORKING_HOURS = "outside_working_hours"
    TIME_CHOSEN = "time_chosen"
    ALL_LINES_BUSY = "all_lines_busy"
    VISITOR_RETRY = "visitor_retry"
    COMPLETED_VISITOR_HUNG_UP = "visitor_hung_up"
    COMPLETED_ENTERPRISE_HUNG_UP = "enterprise_hung_up"
    COMPLETED_MAX_DURATION = "max_duration_reached"
    ENTERPRISE_BUSY = "enterprise_busy"
    ENTERPRISE_NO_ANSWER = "enterprise_no_answer"
    ENTERPRISE_UNREACHABLE = "enterprise_unreachable"
    ENTERPRISE_DECLINED = "enterprise_declined"
    VISITOR_BUSY = "visitor_busy"
    VISITOR_NO_ANSWER = "visitor_no_answer"
    VISITOR_UNREACHABLE = "visitor_unreachable"
    ENTERPRISE_HUNG_UP_EARLY = "enterprise_hung_up_early"
    NO_NODE_AVAILABLE = "no_node_available"
    NODE_LOST = "node_lost"
    ASTERISK_RESTARTED = "asterisk_restarted"
    ORIGINATE_LOST = "originate_lost"
    ORIGINATE_REJECTED = "originate_rejected"
    BALANCE_EXHAUSTED = "balance_exhausted"
    SPEND_CAP_REACHED = "spend_cap_reached"
    NO_RATE = "no_rate"
    NO_BILLING_ACCOUNT = "no_billing_account"
    ENTERPRISE_SUSPENDED = "enterprise_suspended"
    NO_ENABLED_NUMBER = "no_enabled_number"
    NO_WORKING_HOURS = "no_working_hours"
    WAITED_TOO_LONG = "waited_too_long"
    CANCELLED = "cancelled"


REASON_TEXT: dict[Reason, Promise] = {
    Reason.OUTSIDE_WORKING_HOURS: _("Outside working hours: scheduled for the next opening"),
    Reason.TIME_CHOSEN: _("Scheduled for the time the visitor chose"),
    Reason.ALL_LINES_BUSY: _("All of the enterprise's lines are in use: waiting for a free one"),
    Reason.VISITOR_RETRY: _("The visitor did not answer: trying again later"),
    Reason.COMPLETED_VISITOR_HUNG_UP: _("Call completed: the visitor hung up"),
    Reason.COMPLETED_ENTERPRISE_HUNG_UP: _("Call completed: the enterprise hung up"),
    Reason.COMPLETED_MAX_DURATION: _("Call completed: the longest call the balance allows was reached"),
    Reason.ENTERPRISE_BUSY: _("Enterprise busy on all bound numbers"),
    Reason.ENTERPRISE_NO_ANSWER: _("No bound number answered"),
    Reason.ENTERPRISE_UNREACHABLE: _("The enterprise's bound numbers could not be reached"),
    Reason.ENTERPRISE_DECLINED: _("The enterprise declined the call"),
    Reason.VISITOR_BUSY: _("The visitor's line was busy"),
    Reason.VISITOR_NO_ANSWER: _("The visitor did not answer"),
    Reason.VISITOR_UNREACHABLE: _("The visitor's number could not be reached"),
    Reason.ENTERPRISE_HUNG_UP_EARLY: _("The enterprise hung up before the visitor answered"),
    Reason.NO_NODE_AVAILABLE: _("No Asterisk node available"),
    Reason.NODE_LOST: _("The connection to Asterisk was lost during the call"),
    Reason.ASTERISK_RESTARTED: _("Asterisk restarted during the call"),
    Reason.ORIGINATE_LOST: _("Asterisk never reported on the call"),
    Reason.ORIGINATE_REJECTED: _("Asterisk refused to place the call"),
    Reason.BALANCE_EXHAUSTED: _("Balance exhausted"),
    Reason.SPEND_CAP_REACHED: _("The enterprise's daily spend cap is reached"),
    Reason.NO_RATE: _("No rate covers this destination"),
    Reason.NO_BILLING_ACCOUNT: _("The enterprise has no billing account"),
    Reason.ENTERPRISE_SUSPENDED: _("The enterprise's service is suspended"),
    Reason.NO_ENABLED_NUMBER: _("The enterprise has no enabled bound number"),
    Reason.NO_WORKING_HOURS: _("The enterprise has no working hours"),
    Reason.WAITED_TOO_LONG: _("No line became free in time"),
    Reason.CANCELLED: _("Cancelled"),
}


def reason_text(code: str) -> str:
    try:
        return str(REASON_TEXT[Reason(code)])
    except ValueError:
        return code
