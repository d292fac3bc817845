"""Nothing a visitor types reaches AMI unnormalised.

Every field of the public API (and the headers we keep) is sent CR/LF, ``Action:`` lines and other injection
attempts. Each submission is either refused, or accepted with an E.164 visitor number and lead fields free of
control characters. Then every accepted request is placed by the engine over a real AMI client to a fake
Asterisk that records every action it receives: exactly one Originate per accepted request arrives, made only
of the headers the engine writes, with digits where the numbers go, and no other action at all.
"""

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from callback.ami import BlockingAmiPool, OriginateRequest
from callback.ami.tests.fake_ami import ThreadedFakeAmi
from callback.facts import AttemptEnded, Disposition, LegReport
from callback.models import AsteriskNode, CallbackRequest
from callback.services import outcomes, placement
from tenants.models import Enterprise
from widget.models import Lead
from widget.tests.conftest import SHOP, WidgetClient

pytestmark = pytest.mark.django_db

INJECTIONS = [
    "13900001005\r\nAction: Originate\r\nChannel: Local/999@default\r\n",
    "13900001005\r\n\r\nAction: Command\r\nCommand: core restart now\r\n\r\n",
    "13900001005\nAction: Hangup\nChannel: all",
    "13900001005\rAction: Redirect",
    "+86 139 0000 1005\r\n",
    "13900001005%0d%0aAction: Originate",
    "13900001005\x00Action: Originate",
    "13900001005\u2028Action: Originate",
    "13900001005\u0085Action: Originate",
    "${SHELL(rm -rf /)}",
    "13900001005,n,Dial(SIP/9001)",
    "13900001005&Local/999@default",
    "Action: Originate",
    '13900001005" <999>',
]
FIELDS = ["phone", "country", "captcha_key", "captcha_answer", "page_url", "referrer", "language", "website"]
E164 = re.compile(r"\+[1-9]\d{6,14}")
ORIGINATE_HEADERS = {
    "Action",
    "ActionID",
    "Channel",
    "Context",
    "Exten",
    "Priority",
    "Timeout",
    "CallerID",
    "Variable",
    "ChannelId",
    "OtherChannelId",
    "Async",
}


class PoolGateway:
    """The engine's gateway, over a real AMI client, to the fake Asterisk."""

    def __init__(self, pool: BlockingAmiPool, port: int) -> None:
        self.pool = pool
        self.port = port

    def originate(self, node: AsteriskNode, request: OriginateRequest) -> None:
        self.pool.originate("fake", "127.0.0.1", self.port, "huibo", "secret", request, timeout=5)


def test_no_injection_in_any_field_reaches_ami(enterprise: Enterprise) -> None:
    # given: the widget on the shop's site, and an engine whose Asterisk records everything it is sent
    from widget import services

    services.widget_settings_update(enterprise=enterprise, allowed_origins=[SHOP])
    accepted: list[str] = []
    refused: dict[str, int] = {}
    # when: every injection in every field (and in the User-Agent), each from its own client and number
    serial = 0
    for field in [*FIELDS, "user_agent"]:
        for payload in INJECTIONS:
            serial += 1
            api = WidgetClient(enterprise, ip=f"10.9.{serial // 200}.{serial % 200 + 1}")
            fields: dict[str, Any] = {}
            if field == "user_agent":
                api.client.defaults["HTTP_USER_AGENT"] = payload
            elif field == "captcha_key":
                fields = {"captcha": payload, "answer": "x"}
            elif field == "captcha_answer":
                fields = {"answer": payload}
            else:
                fields = {field: payload}
            phone = fields.pop("phone", f"1390000{serial:04d}")
            response = api.submit(phone, **fields)
            body = response.json()
            if response.status_code == 201:
                accepted.append(body["request_id"])
            else:
                refused[body["code"]] = refused.get(body["code"], 0) + 1
    # then: what was accepted is E.164 and plain text
    requests = list(CallbackRequest.objects.filter(correlation_id__in=accepted))
    # page_url, referrer and User-Agent are cleaned and kept: those submissions go through
    assert len(requests) == len(accepted) >= 3 * len(INJECTIONS)
    assert refused.get("spam_suspected") == len(INJECTIONS)  # the honeypot
    assert all(E164.fullmatch(request.visitor_number) for request in requests)
    for lead in Lead.objects.all():
        for name in ("page_url", "referrer", "user_agent", "language", "utm_source", "utm_campaign"):
            assert not re.search(r"[\x00-\x1f\x7f\x85\u2028\u2029]", getattr(lead, name)), (name, getattr(lead, name))
    # every injected phone number was refused
    assert not CallbackRequest.objects.filter(visitor_number__contains="999").exists()
    assert refused.get("invalid_phone_number", 0) >= len(INJECTIONS) - 1

    # when: the engine places every accepted request
    fake = ThreadedFakeAmi()
    pool = BlockingAmiPool(action_timeout=5)
    try:
        AsteriskNode.objects.create(name="fake", host="127.0.0.1", port=fake.fake.port, username="huibo", secret="s")
        gateway = PoolGateway(pool, fake.fake.port)
        for request in requests:
            attempt = placement.attempt_place(request_id=request.pk, attempt_number=1, gateway=gateway)
            assert attempt is not None
            # Nobody answers, so the bound phone is free for the next request.
            ended = AttemptEnded(
                channel_id=attempt.channel_id, at=datetime.now(UTC), first=LegReport(Disposition.NO_ANSWER), second=None
            )
            outcomes.attempt_ended(ended)
        received = [action for _conn, action in fake.fake.received]
    finally:
        pool.close()
        fake.close()
    # then: one Originate per accepted request, nothing else but the login and keep-alives
    names = [str(action.get("Action", "")).lower() for action in received]
    assert set(names) <= {"login", "ping", "originate"}, names
    originates = [action for action in received if str(action.get("Action")).lower() == "originate"]
    assert len(originates) == len(requests)
    numbers = {request.visitor_number.lstrip("+") for request in requests}
    for action in originates:
        assert set(action) <= ORIGINATE_HEADERS, action
        assert re.fullmatch(r"Local/\d+@huibo-outbound(/n)?", str(action["Channel"]))
        assert str(action["Exten"]) in numbers
        assert re.fullmatch(r'(?:"[\w ]*" )?<\d+>', str(action["CallerID"])), action["CallerID"]
        variables = action["Variable"] if isinstance(action["Variable"], list) else [action["Variable"]]
        assert all(re.fullmatch(r"HUIBO_[A-Z_]+=[\w.+-]*", str(v)) for v in variables), variables
