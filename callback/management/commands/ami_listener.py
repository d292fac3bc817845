"""``manage.py ami_listener``: the long-running AMI listener (see callback.listener)."""

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from callback.listener import collector_tune_for_listener, run_listener
from callback.services.nodes import nodes_sync_from_settings


class Command(BaseCommand):
    help = "Keep one AMI link per enabled Asterisk node and turn its events into call state."

    def handle(self, *args: object, **options: object) -> None:
        nodes = nodes_sync_from_settings(urls=settings.HUIBO_ASTERISK_NODES)
        self.stdout.write(f"ami_listener: {len(nodes)} node(s) from the environment; listening")
        collector_tune_for_listener()
        asyncio.run(self._run())

    async def _run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_listener(stop=stop)
