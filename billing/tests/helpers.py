"""Building calls for billing and CDR tests through the engine's own services, with a recording gateway."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing import services as billing_services
from billing.models import BillingAccount, RatePlan
from callback.ami import OriginateRequest
from callback.facts import AttemptEnded, Disposition, LegReport
from callback.models import AsteriskNode, CallAttempt
from callback.services import outcomes, placement, requests
from tenants.models import Enterprise

D = Decimal


@dataclass
class RecordingGateway:
    sent: list[OriginateRequest] = field(default_factory=list)

    def originate(self, node: AsteriskNode, request: OriginateRequest) -> None:
        self.sent.append(request)


def node_ensure() -> AsteriskNode:
    node, _created = AsteriskNode.objects.get_or_create(
        name="pbx-1", defaults={"host": "127.0.0.1", "username": "huibo", "secret": "s", "channel_capacity": 1000}
    )
    return node


def standard_plan(name: str = "Standard") -> RatePlan:
    """0.12/min mobile, 0.10/min fixed line, 6/6, visitor legs to 86139 at 0.20 with a 0.05 connection fee."""
    plan = billing_services.rate_plan_create(name=name)
    billing_services.rate_create(
        plan=plan, destination_group="China mobile", number_type="mobile", price_per_minute=D("0.12")
    )
    billing_services.rate_create(
        plan=plan, destination_group="China fixed line", number_type="fixed_line", price_per_minute=D("0.10")
    )
    billing_services.rate_create(
        plan=plan,
        destination_group="China Mobile 139",
        prefix="86139",
        leg="visitor",
        price_per_minute=D("0.20"),
        connection_fee=D("0.05"),
    )
    return plan


def billed_enterprise(enterprise: Enterprise, *, top_up: str | None = "100", **account: object) -> BillingAccount:
    plan = RatePlan.objects.filter(name="Standard").first() or standard_plan()
    opened = billing_services.account_open(enterprise=enterprise, rate_plan=plan, **account)  # type: ignore[arg-type]
    if top_up:
        billing_services.balance_top_up(
            enterprise=enterprise, amount=D(top_up), reason="opening payment", key=f"open-{enterprise.pk}"
        )
    return opened


def place_call(
    enterprise: Enterprise, visitor: str = "+8613900001005", gateway: RecordingGateway | None = None
) -> CallAttempt | None:
    node_ensure()
    request = requests.callback_request_create(enterprise=enterprise, visitor_number=visitor)
    return placement.attempt_place(request_id=request.pk, attempt_number=1, gateway=gateway or RecordingGateway())


def end_call(
    attempt: CallAttempt,
    *,
    talk_seconds: int | None = 30,
    enterprise_disposition: Disposition = Disposition.ANSWERED,
    visitor_disposition: Disposition | None = Disposition.ANSWERED,
    cdrs: tuple[dict[str, str], ...] = (),
    at: datetime | None = None,
) -> AttemptEnded:
    """End a placed enterprise-first attempt: the enterprise answers 2 s after the Originate, the visitor 3 s later."""
    placed = attempt.originate_sent_at or datetime.now(UTC)
    enterprise_answer = placed + timedelta(seconds=2) if enterprise_disposition is Disposition.ANSWERED else None
    visitor_answer = (
        placed + timedelta(seconds=5) if visitor_disposition is Disposition.ANSWERED and enterprise_answer else None
    )
    end = at or (
        visitor_answer + timedelta(seconds=talk_seconds or 0) if visitor_answer else placed + timedelta(seconds=20)
    )
    fact = AttemptEnded(
        channel_id=attempt.channel_id,
        at=end,
        first=LegReport(disposition=enterprise_disposition, cause=16, answered_at=enterprise_answer, ended_at=end),
        second=(
            LegReport(disposition=visitor_disposition, cause=16, answered_at=visitor_answer, ended_at=end)
            if visitor_disposition is not None and enterprise_answer
            else None
        ),
        connected_at=visitor_answer,
        cdrs=cdrs,
    )
    outcomes.attempt_ended(fact)
    return fact
