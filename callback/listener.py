"""The AMI listener: one persistent AMI link per Asterisk node, turning events into call state.

Two halves, so Asterisk never waits on our database (it drops an AMI client that stops reading
for 100 ms): the asyncio side only reads, parses and enqueues (``AmiClient`` with an ``on_event``
that puts the message on a queue); one applier thread takes messages off the queue in order,
feeds each node's CallTracker and applies the facts through callback.services.outcomes.

After every login the node is reconciled with what Asterisk reports: after a restart every live
attempt on it ends with that reason; after a link blip the calls still up are re-attached and
the ones that ended while we were away are closed.
"""

import asyncio
import gc
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from callback.ami import AmiClient, AmiError, AmiMessage
from callback.facts import (
    AttemptEnded,
    CdrReported,
    Connected,
    Fact,
    FirstLegAnswered,
    GroupMemberAnswered,
    SecondLegDialing,
)
from callback.models import LIVE_ATTEMPT_STATUSES, AsteriskNode, CallAttempt
from callback.reasons import Reason
from callback.services import nodes as node_services
from callback.services import outcomes
from callback.tracker import CallTracker
from integrations import metrics

logger = logging.getLogger(__name__)

# Items applied per database transaction at most.
APPLY_BATCH = 500
# An attempt placed this recently and not yet answered may not be in Asterisk's channel list yet: not "gone".
RECONCILE_MIN_AGE = timedelta(seconds=3)

FACT_HANDLERS: dict[type, Callable[..., bool]] = {
    FirstLegAnswered: outcomes.attempt_first_answered,
    GroupMemberAnswered: outcomes.attempt_group_member_answered,
    SecondLegDialing: outcomes.attempt_second_dialing,
    Connected: outcomes.attempt_connected,
    AttemptEnded: outcomes.attempt_ended,
    CdrReported: outcomes.attempt_cdr_add,
}


def apply_fact(fact: Fact) -> bool:
    return FACT_HANDLERS[type(fact)](fact)


def _channel_id_for_action(action_id: str) -> str | None:
    return CallAttempt.objects.filter(action_id=action_id).values_list("channel_id", flat=True).first()


@dataclass(frozen=True)
class _Event:
    node_id: int
    message: AmiMessage
    received_at: datetime = field(default_factory=timezone.now)  # the reader stamps it, before any backlog


@dataclass(frozen=True)
class _LinkUp:
    node_id: int
    uptime: int | None
    live_channels: tuple[AmiMessage, ...] | None  # CoreShowChannel events; None when they could not be read
    # When Asterisk said both, on the event loop: the applier may take it up seconds later, behind a backlog.
    at: datetime


@dataclass(frozen=True)
class _LinkStillUp:
    node_id: int


@dataclass(frozen=True)
class _LinkDown:
    node_id: int
    reason: str


class Applier:
    """Applies AMI messages and link changes to the database, in arrival order, on one thread."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[_Event | _LinkUp | _LinkStillUp | _LinkDown | None] = queue.SimpleQueue()
        self._trackers: dict[int, CallTracker] = {}
        self._thread = threading.Thread(target=self._run, name="ami-applier", daemon=True)
        self.applied = 0

    def tracker(self, node_id: int) -> CallTracker:
        if node_id not in self._trackers:
            self._trackers[node_id] = CallTracker(channel_id_for_action=_channel_id_for_action)
        return self._trackers[node_id]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.inbox.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self.inbox.get()]
            while len(batch) < APPLY_BATCH:
                try:
                    batch.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
            if None in batch:
                stopping = True
                batch = batch[: batch.index(None)]
            self.apply(batch)  # type: ignore[arg-type]
        connection.close()

    def handle(self, item: "_Event | _LinkUp | _LinkStillUp | _LinkDown") -> None:
        self.apply([item])

    def apply(self, batch: "list[_Event | _LinkUp | _LinkStillUp | _LinkDown]") -> None:
        """Apply a batch in one transaction: one commit, and so one wait for the WAL flush, for many facts.

        Feeding the trackers is pure and happens once; if applying fails, the facts are applied again one by
        one, each in its own transaction (the services are idempotent), so one bad fact costs only itself.
        """
        steps: list[tuple[Callable[..., object], tuple[object, ...]]] = []
        for item in batch:
            if isinstance(item, _Event):
                facts = self.tracker(item.node_id).feed(item.message, received_at=item.received_at)
                steps.extend((apply_fact, (fact,)) for fact in facts)
            elif isinstance(item, _LinkUp):
                steps.append((self._reconcile, (item,)))
            elif isinstance(item, _LinkStillUp):
                steps.append((self._link_still_up, (item,)))
            else:
                steps.append((self._link_down, (item,)))
        if not steps:
            return
        try:
            # Metrics of the moves go out once, after the commit (one Redis round trip instead of one per move).
            with metrics.batched(), transaction.atomic():
                for step, args in steps:
                    step(*args)
        except Exception:
            logger.warning("callback.listener.batch_failed steps=%s; applying one by one", len(steps), exc_info=True)
            close_old_connections()
            for step, args in steps:
                try:
                    with metrics.batched(), transaction.atomic():
                        step(*args)
                except Exception:
                    # The reaper and the next reconciliation repair whatever this left.
                    logger.exception("callback.listener.apply_failed step=%s", getattr(step, "__name__", step))
        self.applied += sum(1 for step, _args in steps if step is apply_fact)

    @staticmethod
    def _link_down(link: "_LinkDown") -> None:
        node_services.node_mark_down(node=AsteriskNode(pk=link.node_id), reason=link.reason)

    @staticmethod
    def _link_still_up(link: _LinkStillUp) -> None:
        node_services.node_confirm_up(node_id=link.node_id)

    def _reconcile(self, link: _LinkUp) -> None:
        node = AsteriskNode.objects.get(pk=link.node_id)
        # The calls we lose sight of below were up at least until our link to the node was lost.
        link_lost_at = node.ami_state_changed_at if node.ami_state == AsteriskNode.AmiState.DOWN else None
        booted_again_at = node_services.node_mark_up(node=node, uptime_seconds=link.uptime, at=link.at)
        tracker = self.tracker(node.pk)
        live = list(CallAttempt.objects.filter(node=node, status__in=LIVE_ATTEMPT_STATUSES))
        if booted_again_at is not None:
            tracker.forget()
            # Calls from before the boot are gone with it. Workers may have placed calls on the new boot before we
            # logged in again: those are followed like any other.
            before_boot = [a for a in live if (a.originate_sent_at or a.created_at) < booted_again_at]
            for attempt in before_boot:
                outcomes.attempt_end_unreported(
                    attempt=attempt, reason=Reason.ASTERISK_RESTARTED, up_until=link_lost_at
                )
            live = [a for a in live if a not in before_boot]
        if link.live_channels is None:
            return
        channels_by_call: dict[str, list[AmiMessage]] = {}
        for channel in link.live_channels:
            channels_by_call.setdefault(channel.get("Linkedid") or "", []).append(channel)
        settled_before = link.at - RECONCILE_MIN_AGE
        for attempt in live:
            channels = channels_by_call.get(attempt.channel_id)
            if channels:
                # What happened while we were away (answered, connected) is caught up on here.
                for fact in tracker.adopt(
                    channel_id=attempt.channel_id,
                    channels=channels,
                    first_answered=attempt.first_answered_at is not None,
                    connected_at=attempt.connected_at,
                ):
                    apply_fact(fact)
            elif attempt.first_answered_at or (
                attempt.status == CallAttempt.Status.ORIGINATED
                and attempt.originate_sent_at
                and attempt.originate_sent_at < settled_before
            ):
                # An answered call had channels for sure, and so had an Originate Asterisk accepted a while ago:
                # gone now means it ended while we were away. One still being placed (its worker may be waiting
                # for its own link) is left to its worker, then to the reaper.
                outcomes.attempt_end_unreported(attempt=attempt, reason=Reason.NODE_LOST, up_until=link_lost_at)


class NodeLink:
    """The asyncio side for one node: read, enqueue, and ask Asterisk what is up after each login."""

    def __init__(self, node: AsteriskNode, applier: Applier) -> None:
        self.node_id = node.pk
        self.address = NodeLink.address_of(node)
        self.applier = applier
        self.client = AmiClient(
            node.host,
            node.port,
            node.username,
            node.secret,
            events=True,
            on_event=self._on_event,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
            action_timeout=settings.AMI_ACTION_TIMEOUT_SECONDS,
            ping_interval=settings.AMI_PING_INTERVAL_SECONDS,
            ping_timeout=settings.AMI_PING_TIMEOUT_SECONDS,
            name=node.name,
        )

    @staticmethod
    def address_of(node: AsteriskNode) -> tuple[str, int, str, str]:
        """What the link was made with: when an operator changes any of it, the link is made again."""
        return (node.host, node.port, node.username, node.secret)

    def _on_event(self, message: AmiMessage) -> None:
        # Most of Asterisk's ~107 messages per callback (VarSet, Newexten, …) say nothing about call state:
        # drop them here so the applier thread, which shares the GIL with this loop, has less to chew.
        if message.name in CallTracker.EVENTS:
            self.applier.inbox.put(_Event(self.node_id, message, timezone.now()))

    async def _on_connected(self, uptime: int | None, is_restart: bool) -> None:
        try:
            channels: tuple[AmiMessage, ...] | None = tuple(
                m
                for m in await self.client.send_action_list({"Action": "CoreShowChannels"})
                if m.name == "CoreShowChannel"
            )
        except AmiError as error:
            logger.warning("callback.listener.core_show_channels_failed node=%s error=%s", self.node_id, error)
            channels = None
        self.applier.inbox.put(_LinkUp(self.node_id, uptime, channels, at=timezone.now()))

    def _on_disconnected(self, reason: str) -> None:
        self.applier.inbox.put(_LinkDown(self.node_id, reason))


# The cyclic collector's thresholds in the listener: a young pass per 20,000 net allocations, not 700. Behind a
# burst the applier's inbox holds tens of thousands of queued messages, and every full pass walks them all with the
# GIL held: the event loop, which must keep reading Asterisk, stalled 50-100 ms at a time and the applier lost a
# fifth of its time. The listener makes little cyclic garbage; refcounting frees the rest at once.
GC_THRESHOLDS = (20_000, 20, 20)


def collector_tune_for_listener() -> None:
    """Call once the process has loaded what it keeps (Django, the models): that moves out of every collection."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def run_listener(*, stop: asyncio.Event, node_refresh_seconds: float = 30.0) -> None:
    """Keep one NodeLink per enabled node until ``stop`` is set; pick up nodes added, changed or removed
    meanwhile, and put back in service a node a worker marked down while our link to it is up."""
    applier = Applier()
    applier.start()
    links: dict[int, NodeLink] = {}
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            nodes = await loop.run_in_executor(None, _enabled_nodes)
            for node in nodes:
                if node.pk in links and links[node.pk].address != NodeLink.address_of(node):
                    await links.pop(node.pk).client.close()
                if node.pk not in links:
                    links[node.pk] = NodeLink(node, applier)
                    await links[node.pk].client.start()
            for node_id in set(links) - {n.pk for n in nodes}:
                await links.pop(node_id).client.close()
            for node in nodes:
                # A worker marks a node down when its own link fails; ours is the one that watches the node. Through
                # the applier, so that a drop of our link after this check still ends with the node down.
                if node.ami_state == AsteriskNode.AmiState.DOWN and links[node.pk].client.connected:
                    applier.inbox.put(_LinkStillUp(node.pk))
            try:
                await asyncio.wait_for(stop.wait(), timeout=node_refresh_seconds)
            except TimeoutError:
                pass
    finally:
        for link in links.values():
            await link.client.close()
        await loop.run_in_executor(None, applier.stop)


def _enabled_nodes() -> list[AsteriskNode]:
    try:
        return list(AsteriskNode.objects.filter(enabled=True))
    finally:
        connection.close()  # an executor thread: no connection left idle behind it
