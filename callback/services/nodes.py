"""Asterisk nodes: declared in the environment, marked up or down by what their AMI links do."""

import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlparse

from django.db import transaction
from django.utils import timezone

from callback.ami.client import RESTART_MARGIN_SECONDS
from callback.models import AsteriskNode
from huibo.errors import ApplicationError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeSpec:
    name: str
    host: str
    port: int
    username: str
    secret: str
    channel_capacity: int


def parse_node_url(url: str) -> NodeSpec:
    """``ami://user:secret@host:5038?channels=200&name=pbx1`` → NodeSpec, or a message saying what is wrong."""
    parsed = urlparse(url.strip())
    if parsed.scheme != "ami" or not parsed.hostname or not parsed.username or parsed.password is None:
        raise ApplicationError("invalid_node_url", f"Expected ami://user:secret@host:port, got {parsed.scheme}://…")
    query = parse_qs(parsed.query)
    port = parsed.port or 5038
    return NodeSpec(
        name=query.get("name", [f"{parsed.hostname}:{port}"])[0],
        host=parsed.hostname,
        port=port,
        username=unquote(parsed.username),
        secret=unquote(parsed.password),
        channel_capacity=int(query.get("channels", ["200"])[0]),
    )


def nodes_sync_from_settings(*, urls: list[str]) -> list[AsteriskNode]:
    """Make the nodes declared in the environment exist with exactly those settings; disable ones removed."""
    specs = [parse_node_url(url) for url in urls]
    with transaction.atomic():
        nodes = []
        for spec in specs:
            node, _created = AsteriskNode.objects.update_or_create(
                name=spec.name,
                defaults={
                    "host": spec.host,
                    "port": spec.port,
                    "username": spec.username,
                    "secret": spec.secret,
                    "channel_capacity": spec.channel_capacity,
                    "enabled": True,
                    "from_environment": True,
                },
            )
            nodes.append(node)
        AsteriskNode.objects.filter(from_environment=True).exclude(name__in=[s.name for s in specs]).update(
            enabled=False
        )
    return nodes


def node_mark_down(*, node: AsteriskNode, reason: str) -> None:
    changed = (
        AsteriskNode.objects.filter(pk=node.pk)
        .exclude(ami_state=AsteriskNode.AmiState.DOWN)
        .update(
            ami_state=AsteriskNode.AmiState.DOWN, ami_state_changed_at=timezone.now(), ami_state_reason=reason[:200]
        )
    )
    if changed:
        logger.warning("callback.node.down node=%s reason=%s", node.pk, reason)


def node_mark_up(*, node: AsteriskNode, uptime_seconds: int | None) -> bool:
    """Record a successful login. True when Asterisk booted again since the last one we recorded.

    Boot instants are compared, not raw Uptimes: Uptime is whole seconds, read a few ms late.
    """
    now = timezone.now()
    booted_at = now - timedelta(seconds=uptime_seconds) if uptime_seconds is not None else None
    with transaction.atomic():
        locked = AsteriskNode.objects.select_for_update().get(pk=node.pk)
        restarted = (
            booted_at is not None
            and locked.booted_at is not None
            and booted_at - locked.booted_at > timedelta(seconds=RESTART_MARGIN_SECONDS)
        )
        locked.ami_state = AsteriskNode.AmiState.UP
        locked.ami_state_changed_at = now
        locked.ami_state_reason = ""
        locked.booted_at = booted_at or locked.booted_at
        locked.save(update_fields=["ami_state", "ami_state_changed_at", "ami_state_reason", "booted_at"])
    logger.info("callback.node.up node=%s uptime=%s restarted=%s", node.pk, uptime_seconds, restarted)
    return restarted
