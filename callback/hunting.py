"""Which bound number to offer a callback to next: pure rules, tested without a database."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    bound_number_id: int
    number: str
    ring_timeout_seconds: int


def hunting_order(
    candidates: Sequence[Candidate],
    *,
    strategy: str,
    rotation: int = 0,
    sticky_bound_number_id: int | None = None,
) -> list[Candidate]:
    """Order enabled bound numbers (already in priority order) for one round of hunting.

    Sequential keeps the priority order; round robin starts one further along on each call so
    calls spread over the numbers; a sticky number (the one that last talked with this visitor)
    goes first under either strategy.
    """
    ordered = list(candidates)
    if strategy == "round_robin" and ordered:
        start = rotation % len(ordered)
        ordered = ordered[start:] + ordered[:start]
    if sticky_bound_number_id is not None:
        ordered.sort(key=lambda c: c.bound_number_id != sticky_bound_number_id)
    return ordered


def offerable(ordered: Sequence[Candidate], *, already_offered: set[int], busy_numbers: set[str]) -> list[Candidate]:
    """The numbers of this round not yet offered the call and not already on a Huibo call, in order.

    Sequential and round robin ring the first of them; simultaneous ring rings them all at once.
    """
    return [c for c in ordered if c.bound_number_id not in already_offered and c.number not in busy_numbers]
