"""Running the simulator from synchronous code (SimulatorThread) and from the command line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from asterisk.simulator import SimulatorThread
from asterisk.simulator.__main__ import build_parser
from asterisk.simulator.protocol import BANNER

ROOT = Path(__file__).resolve().parents[3]


def _read_until(sock: socket.socket, marker: bytes, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_thread_runs_the_simulator_for_synchronous_tests() -> None:
    with SimulatorThread(time_scale=0.01) as sim:
        # given: a plain blocking client
        with socket.create_connection(("127.0.0.1", sim.port)) as sock:
            assert _read_until(sock, b"\r\n") == BANNER
            sock.sendall(b"Action: Login\r\nUsername: huibo\r\nSecret: huibo-demo-secret\r\n\r\n")
            assert b"Authentication accepted" in _read_until(sock, b"Fully Booted\r\n\r\n")
            sock.sendall(
                b"Action: Originate\r\nActionID: t1\r\nChannel: Local/8613800001100@huibo-outbound\r\n"
                b"Context: huibo-callback\r\nExten: 8613900001100\r\nPriority: 1\r\nAsync: true\r\n\r\n"
            )
            _read_until(sock, b"BridgeNumChannels: 2\r\n")
            assert len(sim.channels()) == 4
            # when: a fault, called from this thread
            sim.restart()
            # then
            assert b"Event: Shutdown" in _read_until(sock, b"Restart: True\r\n\r\n")
        sim.wait_until_listening()
        assert sim.channels() == []
        assert sim.uptime == 0


def test_the_thread_stops_cleanly_and_frees_its_port() -> None:
    sim = SimulatorThread().start()
    port = sim.port
    sim.stop()
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_the_command_line_takes_the_demo_flags() -> None:
    args = build_parser().parse_args(
        ["--host", "127.0.0.1", "--port", "5038", "--user", "huibo", "--secret", "s", "--time-scale", "0.5"]
    )
    assert (args.host, args.port, args.user, args.secret, args.time_scale, args.replay) == (
        "127.0.0.1",
        5038,
        "huibo",
        "s",
        0.5,
        None,
    )
    assert args.read == "call,cdr,system"


def test_python_dash_m_serves_ami() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "asterisk.simulator", "--port", str(port), "--user", "huibo", "--secret", "s"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline().decode()  # the listener logs once it is bound
        assert "simulator.ami.listening" in line
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert _read_until(sock, b"\r\n") == BANNER
    finally:
        process.terminate()
        process.wait(timeout=5)
