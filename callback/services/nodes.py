"""Asterisk nodes: declared in the environment, marked up or down by what their AMI links do, and their load.

A node's load is ``calls_placed`` (on its row, bumped by the transaction that places an attempt, which refuses
past ``channel_capacity``) minus ``calls_ended`` (on a NodeCallsEnded row, bumped by the transaction that ends
one). Both move with the attempt rows they count, so they stay exact; neither path waits for the other (two
rows), and no placement locks every node or counts live attempts. ``node_slots_reconcile`` puts them right
after rows were deleted or edited by hand.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, unquote, urlparse

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from callback.ami.client import RESTART_MARGIN_SECONDS
from callback.models import LIVE_ATTEMPT_STATUSES, AsteriskNode, CallAttempt, NodeCallsEnded
from huibo import db, prepared
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


def node_confirm_up(*, node_id: int) -> bool:
    """The listener's link to the node is up: a node a worker marked down (its own link failed) is back in service.
    True when it was down."""
    changed = AsteriskNode.objects.filter(pk=node_id, ami_state=AsteriskNode.AmiState.DOWN).update(
        ami_state=AsteriskNode.AmiState.UP, ami_state_changed_at=timezone.now(), ami_state_reason=""
    )
    if changed:
        logger.info("callback.node.up_again node=%s (the listener's link is up)", node_id)
    return bool(changed)


def node_mark_up(*, node: AsteriskNode, uptime_seconds: int | None, at: datetime | None = None) -> datetime | None:
    """Record a successful login, whose ``uptime_seconds`` Asterisk reported ``at`` (default: now). When Asterisk
    booted again since the last one we recorded: when it did; else None.

    Boot instants are compared, not raw Uptimes: Uptime is whole seconds, read a few ms late.
    """
    now = timezone.now()
    booted_at = (at or now) - timedelta(seconds=uptime_seconds) if uptime_seconds is not None else None
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
    return booted_at if restarted else None


def _load(node: str) -> str:
    ended = f"SELECT calls_ended FROM callback_nodecallsended WHERE node_id = {node}.id"
    return f"{node}.calls_placed - COALESCE(({ended}), 0)"


# Takes a slot on the least-loaded enabled node not known to be down; the outer WHERE checks the room again on the
# row it updates, once any other placement holding that row has finished. PostgreSQL and SQLite (3.35+) alike.
_TAKE_SLOT = f"""
UPDATE callback_asterisknode AS n SET calls_placed = n.calls_placed + 1
WHERE n.id = (
    SELECT m.id FROM callback_asterisknode AS m
    WHERE m.enabled AND m.ami_state <> %s AND {_load("m")} < m.channel_capacity
    ORDER BY {_load("m")}, m.id LIMIT 1
) AND {_load("n")} < n.channel_capacity
RETURNING id, name, host, port, username, secret
"""
_RELEASE_SLOT = """
INSERT INTO callback_nodecallsended (node_id, calls_ended) VALUES (%s, 1)
ON CONFLICT (node_id) DO UPDATE SET calls_ended = callback_nodecallsended.calls_ended + 1
"""


def node_slot_take() -> AsteriskNode | None:
    """A slot on the least-loaded node with room, for an attempt the caller's transaction is placing; None when
    every node is full, disabled or down. The node's row stays locked until that transaction ends: keep it short.
    """
    for _try in range(3):  # another placement may have filled the chosen node meanwhile: choose again
        with connection.cursor() as cursor:
            prepared.execute(cursor, _TAKE_SLOT, [AsteriskNode.AmiState.DOWN.value])
            row = cursor.fetchone()
        if row is not None:
            columns = ("id", "name", "host", "port", "username", "secret")
            return db.row_instance(AsteriskNode, dict(zip(columns, row, strict=True)))
    return None


def node_slot_release(*, node_id: int) -> None:
    """The attempt holding a slot on the node has ended; in the transaction that ends it."""
    with connection.cursor() as cursor:
        prepared.execute(cursor, _RELEASE_SLOT, [node_id])


def node_slots_reconcile() -> int:
    """Make every node's load equal its live attempts again; how many nodes were off (0 unless attempt rows were
    deleted or edited by hand: placing and ending keep the counters exact)."""
    with transaction.atomic():
        # Enders first, then placers: the order the listener takes them in (ending a call, then a node state).
        list(NodeCallsEnded.objects.select_for_update(no_key=True).values_list("pk"))
        nodes = list(AsteriskNode.objects.select_for_update(no_key=True).values_list("pk", "calls_placed"))
        ended = dict(NodeCallsEnded.objects.values_list("node_id", "calls_ended"))
        live = dict(
            CallAttempt.objects.filter(status__in=LIVE_ATTEMPT_STATUSES)
            .values_list("node_id")
            .annotate(n=Count("id"))
            .values_list("node_id", "n")
        )
        off = 0
        for node_id, placed in nodes:
            expected = ended.get(node_id, 0) + live.get(node_id, 0)
            if placed != expected:
                off += 1
                logger.warning("callback.node.load_reconciled node=%s placed=%s expected=%s", node_id, placed, expected)
                AsteriskNode.objects.filter(pk=node_id).update(calls_placed=expected)
    return off
