"""AMI users and event classes, as manager.conf declares them (``read``/``write``) and manager.c checks them."""

from __future__ import annotations

from dataclasses import dataclass

ALL_CLASSES = frozenset(
    "system call log verbose command agent user config dtmf reporting cdr dialplan originate agi cc aoc test "
    "security message".split()
)
# What Huibo's AMI user gets in production (asterisk/manager.conf); the simulator's default too, so code
# developed against it sees what production sends.
PRODUCTION_READ = frozenset({"system", "call", "cdr"})
PRODUCTION_WRITE = frozenset({"originate", "reporting"})

# Which write class an action needs (manager.c registrations; any one of them is enough).
ACTION_CLASSES: dict[str, frozenset[str]] = {
    "originate": frozenset({"originate"}),
    "hangup": frozenset({"system", "call"}),
    "coreshowchannels": frozenset({"system", "reporting"}),
    "status": frozenset({"system", "call", "reporting"}),
    "command": frozenset({"command"}),
}


def parse_classes(text: str) -> frozenset[str]:
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if "all" in names:
        return ALL_CLASSES
    return frozenset(names & ALL_CLASSES)


@dataclass(frozen=True)
class AmiUser:
    username: str
    secret: str
    read: frozenset[str] = PRODUCTION_READ
    write: frozenset[str] = PRODUCTION_WRITE
