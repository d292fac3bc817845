"""``manage.py demo`` (what ``make demo`` runs): the whole service on the embedded default, stopped by Ctrl-C.

Starts the PBX simulator, the web server, a Celery worker and beat (filesystem broker) and the AMI
listener, after migrating SQLite and creating the demo data; prints where to click.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from tenants.management.commands.seed_demo import DEMO_PASSWORD
from tenants.models import Enterprise


class Command(BaseCommand):
    help = "Run web, worker, beat, AMI listener and the PBX simulator together until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("HUIBO_DEMO_PORT", "8000")))
        parser.add_argument("--ami-port", type=int, default=5038)

    def handle(self, *args: object, **options: object) -> None:
        port, ami_port = int(options["port"]), int(options["ami_port"])  # type: ignore[call-overload]
        var = Path(settings.BASE_DIR) / "var"
        for folder in ("broker", "broker-control", "cache", "logs"):
            (var / folder).mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo", site=f"http://127.0.0.1:{port}")
        public_key = Enterprise.objects.get(slug="demo").public_key
        python = sys.executable
        env = {
            **os.environ,
            "HUIBO_ASTERISK_NODES": settings.DEMO_AMI_NODE.format(port=ami_port),
            "PYTHONUNBUFFERED": "1",
        }
        processes = {
            "pbx-simulator": [python, "-m", "asterisk.simulator", "--host", "127.0.0.1", "--port", str(ami_port),
                              "--user", "huibo", "--secret", "huibo-demo-secret",
                              "--recordings-dir", str(settings.CDR_RECORDINGS_DIR)],
            "web": [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            "worker": [python, "-m", "celery", "-A", "huibo", "worker", "--pool=threads", "--concurrency=4",
                       "--loglevel=INFO"],
            "beat": [python, "-m", "celery", "-A", "huibo", "beat", "--loglevel=INFO",
                     "--schedule", str(var / "celerybeat-schedule")],
            "ami-listener": [python, "manage.py", "ami_listener"],
        }  # fmt: skip
        running: dict[str, subprocess.Popen[bytes]] = {}
        logs = var / "logs"
        for name, command in processes.items():
            log = (logs / f"{name}.log").open("ab")
            running[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=log)
            self.stdout.write(f"started {name:14} pid {running[name].pid}  log var/logs/{name}.log")
        self.stdout.write(
            "\nHuibo is running on the embedded default (SQLite, filesystem broker, PBX simulator).\n"
            f"  Enterprise portal  http://127.0.0.1:{port}/portal/        demo-admin / {DEMO_PASSWORD}\n"
            f"  Operator console   http://127.0.0.1:{port}/console/live/  operator / {DEMO_PASSWORD}"
            f" (administration: /admin/)\n"
            f"  Simulated Asterisk AMI on 127.0.0.1:{ami_port}"
            " (numbers ending 1005 talk 5 s, 2000 are busy, 3000 never answer)\n"
            f"  Widget demo page   http://127.0.0.1:{port}/widget/demo/{public_key}/"
            " (the contact-us widget a visitor sees)\n"
            "  Place a callback:  DEBUG=1 .venv/bin/python manage.py place_callback demo +8613900001005\n"
            "Ctrl-C stops everything.\n"
        )
        stop = False

        def request_stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        while not stop:
            for name, process in running.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with {process.returncode}; see var/logs/{name}.log. Stopping.")
                    stop = True
            time.sleep(0.5)
        for process in running.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for process in running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        self.stdout.write("stopped.")
