"""Make sure the PostgreSQL and Redis that the tests need are reachable.

Run by `make test`. When a server does not answer, it tries the local
binaries a Debian machine has (the same commands this workplace uses), then
says exactly what to run if it still cannot reach them.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main start"
REDIS_START = (
    "redis-server --daemonize yes --bind 127.0.0.1 --port {port} --save '' --appendonly no --dir /tmp "
    "--logfile /tmp/huibo-redis.log"
)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _wait(host: str, port: int, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _reachable(host, port):
            return True
        time.sleep(0.2)
    return False


def _ensure(name: str, env_var: str, default_port: int, start: str, binary: str) -> bool:
    parsed = urlparse(os.environ[env_var])
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    if _reachable(host, port):
        return True
    if host in ("127.0.0.1", "localhost") and shutil.which(binary):
        print(f"{name} is not answering on {host}:{port}; starting it: {start.format(port=port)}")
        subprocess.run(start.format(port=port), shell=True, check=False)
        if _wait(host, port):
            return True
    print(
        f"\n{name} is not reachable at {host}:{port}. The tests need a real {name}.\n"
        f"  Start one with:  {start.format(port=port)}\n"
        f"  or point the tests at yours:  make test {env_var}=...\n",
        file=sys.stderr,
    )
    return False


def main() -> int:
    ok = _ensure("PostgreSQL", "DATABASE_URL", 5432, PG_START, "pg_ctlcluster")
    ok = _ensure("Redis", "REDIS_URL", 6379, REDIS_START, "redis-server") and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
