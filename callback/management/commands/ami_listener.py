"""``manage.py ami_listener``: the long-running AMI listener (see callback.listener)."""

import asyncio
import gc
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from callback.listener import run_listener
from callback.services.nodes import nodes_sync_from_settings

# The cyclic collector's thresholds in this process: a young pass per 20,000 net allocations, not 700. Behind a
# burst the applier's inbox holds tens of thousands of queued messages, and every full pass walks them all with the
# GIL held: the event loop, which must keep reading Asterisk, stalled 50-100 ms at a time and the applier lost a
# fifth of its time. The listener makes little cyclic garbage; refcounting frees the rest at once.
GC_THRESHOLDS = (20_000, 20, 20)


class Command(BaseCommand):
    help = "Keep one AMI link per enabled Asterisk node and turn its events into call state."

    def handle(self, *args: object, **options: object) -> None:
        nodes = nodes_sync_from_settings(urls=settings.HUIBO_ASTERISK_NODES)
        self.stdout.write(f"ami_listener: {len(nodes)} node(s) from the environment; listening")
        # What the process has loaded (Django, the models, the app registry) lives as long as it does: out of every
        # collection from now on.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        asyncio.run(self._run())

    async def _run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_listener(stop=stop)
