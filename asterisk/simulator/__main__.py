"""``python -m asterisk.simulator``: the simulated Asterisk for the demo, or a transcript replay.

python -m asterisk.simulator --host 127.0.0.1 --port 5038 --user huibo --secret huibo-demo-secret
python -m asterisk.simulator --port 5038 --replay ../shared/asterisk/transcripts/01-....ami.txt
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from .replay import ReplayServer
from .runner import Simulator
from .users import PRODUCTION_READ, PRODUCTION_WRITE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m asterisk.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038)
    parser.add_argument("--user", default="huibo")
    parser.add_argument("--secret", default="huibo-demo-secret")
    parser.add_argument("--read", default=",".join(sorted(PRODUCTION_READ)), help="AMI read classes (or 'all')")
    parser.add_argument("--write", default=",".join(sorted(PRODUCTION_WRITE)), help="AMI write classes (or 'all')")
    parser.add_argument("--time-scale", type=float, default=1.0, help="0.01 runs simulated time 100x faster")
    parser.add_argument("--channelvars", default="HUIBO_ATTEMPT", help="comma separated, as in manager.conf")
    parser.add_argument("--recordings-dir", default=None, help="write a WAV per bridged call with HUIBO_RECORD=1")
    parser.add_argument("--replay", default=None, help="serve this .ami.txt transcript instead of simulating")
    parser.add_argument("--log-level", default="INFO")
    return parser


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.replay:
        replay = ReplayServer(args.replay, host=args.host, port=args.port, time_scale=args.time_scale)
        await replay.start()
        await stop.wait()
        await replay.stop()
        return
    simulator = Simulator(
        host=args.host,
        port=args.port,
        user=args.user,
        secret=args.secret,
        read=args.read,
        write=args.write,
        time_scale=args.time_scale,
        channelvars=[v.strip() for v in args.channelvars.split(",") if v.strip()],
        recordings_dir=args.recordings_dir,
    )
    await simulator.start()
    await stop.wait()
    await simulator.stop()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
