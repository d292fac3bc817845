"""Huibo's production Asterisk configuration: least privilege and filtered input (RELIABILITY.md S8), CDRs
that survive a crash, and agreement with what the simulator assumes."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from asterisk.simulator import PRODUCTION_READ, PRODUCTION_WRITE
from asterisk.simulator.dialplan import parse

ASTERISK = Path(__file__).resolve().parents[2]
ALLOWED_VARIABLES = {
    "HUIBO_ATTEMPT",
    "HUIBO_RING_TIMEOUT",
    "HUIBO_DIAL_TIMEOUT",
    "HUIBO_MAX_SECONDS",
    "HUIBO_CONFIRM",
    "HUIBO_SHOWN_NUMBER",
    "HUIBO_RECORD",
    "HUIBO_RING_GROUP",
}


def _conf(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, inline_comment_prefixes=(";",), comment_prefixes=(";",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((ASTERISK / name).read_text())
    return parser


def _lines(name: str, section: str) -> list[tuple[str, str]]:
    """``key = value`` lines of a section, repeated keys kept (configparser would merge them)."""
    out, current = [], None
    for raw in (ASTERISK / name).read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            current = line[1 : line.index("]")]
        elif "=" in line and current == section:
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def test_the_ami_user_gets_only_what_huibo_needs_and_the_simulator_assumes_the_same() -> None:
    user = dict(_lines("manager.conf", "huibo"))
    assert set(user["read"].split(",")) == PRODUCTION_READ
    assert set(user["write"].split(",")) == PRODUCTION_WRITE
    assert not {"command", "config", "system", "all"} & set(user["write"].split(","))
    assert user["secret"] == "@AMI_SECRET@"
    assert dict(_lines("manager.conf", "general"))["channelvars"] == "HUIBO_ATTEMPT"


def test_the_ami_user_is_refused_from_anywhere_but_private_networks() -> None:
    acl = [(k, v) for k, v in _lines("manager.conf", "huibo") if k in ("deny", "permit")]
    assert acl[0] == ("deny", "0.0.0.0/0.0.0.0")
    for _, network in acl[1:]:
        assert network.split("/")[0].startswith(("10.", "172.16.", "192.168.", "127."))


def test_cdrs_are_written_at_once_and_cover_failed_attempts() -> None:
    general = _conf("cdr.conf")["general"]
    assert (general["unanswered"], general["congestion"], general["batch"]) == ("yes", "yes", "no")
    assert _conf("cdr_manager.conf")["general"]["enabled"] == "yes"


def test_every_number_the_dialplan_dials_is_filtered_to_digits() -> None:
    text = (ASTERISK / "extensions.conf").read_text()
    contexts = parse(text)
    dials = [
        _first_argument(p.data)
        for name in ("huibo-outbound", "huibo-callback")
        for p in contexts[name].lookup("8613800001005") or []
        if p.app == "Dial"
    ]
    assert len(dials) == 2
    for target in dials:
        assert "${FILTER(0-9,${EXTEN})}" in target
        assert "${EXTEN}" not in target.replace("${FILTER(0-9,${EXTEN})}", "")
    for name in ("huibo-outbound", "huibo-callback"):
        assert contexts[name].lookup("8613800001005") is not None
        assert contexts[name].lookup("+8613800001005") is None  # only digits match
    # [huibo-ringall] dials what it built in RING_TARGETS: every member is its own FILTER(0-9,...)
    ringall = contexts["huibo-ringall"].lookup("s") or []
    assert [_first_argument(p.data) for p in ringall if p.app == "Dial"] == ["${RING_TARGETS}"]
    built = [p.data.removeprefix("RING_TARGETS=") for p in ringall if p.app == "Set" and "RING_TARGETS=" in p.data]
    members = [piece for value in built for piece in value.split("&") if piece != "${RING_TARGETS}"]
    assert len(built) == len(members) == 2
    for target in members:
        assert target.startswith("Local/${FILTER(0-9,${CUT(RING_GROUP,") and target.endswith(")}@huibo-outbound/n")
    assert contexts["huibo-ringall"].lookup("8613800001005") is None  # entered at s only


def test_no_local_channel_the_dialplan_dials_can_be_optimised_away() -> None:
    code = "\n".join(line.split(";", 1)[0] for line in (ASTERISK / "extensions.conf").read_text().splitlines())
    local_targets = re.findall(r"Local/\S*?@huibo-[a-z]+(?:/\w+)?", code)
    assert len(local_targets) == 3
    assert all(target.endswith("/n") for target in local_targets), local_targets


def _first_argument(data: str) -> str:
    depth = 0
    for i, char in enumerate(data):
        depth += char in "({"
        depth -= char in ")}"
        if char == "," and depth == 0:
            return data[:i]
    return data


def test_only_allow_listed_channel_variables_are_read() -> None:
    text = (ASTERISK / "extensions.conf").read_text()
    code = "\n".join(line.split(";", 1)[0] for line in text.splitlines())
    used = set(re.findall(r"\$\{(?:FILTER\([^,]*,\$\{)?(HUIBO_[A-Z_]+)", code))
    assert used <= ALLOWED_VARIABLES | {"HUIBO_KEY"}  # HUIBO_KEY: set by Read() in the dialplan itself
    for name in ALLOWED_VARIABLES - {"HUIBO_ATTEMPT"}:
        for use in re.findall(rf"[^(,]\$\{{{name}\}}", code):
            raise AssertionError(f"{name} used unfiltered: {use}")


def test_the_container_installs_asterisk_22_and_writes_the_secret_from_the_environment() -> None:
    dockerfile = (ASTERISK / "Dockerfile").read_text()
    assert re.search(r"^FROM debian:", dockerfile, re.MULTILINE)
    assert "'asterisk=1:22.*'" in dockerfile
    for sources in re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile, re.MULTILINE):
        for source in sources.split():
            assert (ASTERISK / source).is_file(), source
    entrypoint = (ASTERISK / "entrypoint.sh").read_text()
    assert "AMI_SECRET:?" in entrypoint and "@AMI_SECRET@" in entrypoint
    assert "exec /usr/sbin/asterisk -f" in entrypoint


def test_the_media_ports_match_the_compose_file_and_carry_the_node_s_callbacks() -> None:
    rtp = _conf("rtp.conf")["general"]
    start, end = int(rtp["rtpstart"]), int(rtp["rtpend"])
    compose = ASTERISK.parent / "docker-compose.yml"
    if compose.exists():
        text = compose.read_text()
        assert f"{start}-{end}:{start}-{end}/udp" in text
        # each callback: two trunk legs, each an even RTP port and the odd RTCP port after it
        (channels,) = re.findall(r"@asterisk:5038\?channels=(\d+)", text)
        assert (end - start + 1) // 4 >= int(channels)


def test_the_trunk_template_leaves_only_placeholders_to_fill_in() -> None:
    text = (ASTERISK / "pjsip.conf").read_text()
    assert "[huibo-trunk]" in text and "context = huibo-inbound" in text
    assert "FILL_IN_TRUNK_PASSWORD" in text
    for value in re.findall(r"^(?:password|username)[ \t]*=[ \t]*(\S+)", text, re.MULTILINE):
        assert value.startswith("FILL_IN_")
