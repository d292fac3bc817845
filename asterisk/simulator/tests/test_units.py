"""The small parts on their own: transcript reader, AMI framing, dialplan substitution and patterns."""

from __future__ import annotations

import pytest

from asterisk.simulator.dialplan import (
    confirm_presses_key,
    evaluate,
    outbound_phone,
    parse,
    pattern_regex,
    substitute,
)
from asterisk.simulator.interleaving import Interleaving
from asterisk.simulator.protocol import ActionReader, encode
from asterisk.simulator.tests.driver import transcripts_dir
from asterisk.simulator.transcript import Closed, Connected, Ran, load


@pytest.mark.parametrize("path", sorted(transcripts_dir().glob("*.ami.txt")), ids=lambda p: p.name[:3])
def test_the_transcript_reader_gives_back_the_raw_bytes_of_every_connection(path) -> None:  # type: ignore[no-untyped-def]
    transcript = load(path)
    stem = path.name.removesuffix(".ami.txt")
    for conn in transcript.connections():
        raw = path.with_name(f"{stem}.ami.raw" if conn == 1 else f"{stem}.conn{conn}.ami.raw")
        assert transcript.raw(conn) == raw.read_bytes()
    assert transcript.sent(1)[0].get("Action") in ("Login", "Ping")


def test_the_transcript_reader_sees_connections_eofs_and_cli_commands() -> None:
    transcript = load(transcripts_dir() / "15-asterisk-restart-mid-call.ami.txt")
    assert [i.conn for i in transcript.items if isinstance(i, Connected)] == [1, 2]
    assert [i.conn for i in transcript.items if isinstance(i, Closed)] == [1, 2]
    [ran] = [i for i in transcript.items if isinstance(i, Ran)]
    assert ran.t == pytest.approx(4.013895) and "core restart now" in ran.what


def test_actions_may_end_lines_with_lf_and_arrive_in_pieces() -> None:
    reader = ActionReader()
    assert list(reader.feed(b"Action: Ping\nAction")) == []
    [action] = list(reader.feed(b"ID: 1\n\r\n"))
    assert (action.name, action.action_id) == ("Ping", "1")


def test_messages_are_crlf_lines_and_a_blank_line() -> None:
    assert encode([("Response", "Success"), ("Message", "")]) == b"Response: Success\r\nMessage: \r\n\r\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${EXTEN:2}", "05"),
        ("${EXTEN:-2}", "05"),
        ("${EXTEN:1:2}", "00"),
        ("${FILTER(0-9,${DIRTY})}", "123"),
        ("${FILTER(0-9a-zA-Z-,${DIRTY})}", "1a2-3"),
        ('$["${EMPTY}" = ""]', "1"),
        ("$[0${FILTER(0-9,${EMPTY})} > 0]", "0"),
        ("$[0${FILTER(0-9,${N})} > 0]", "1"),
        ("$[ > 0]", ""),
        ("${FILTER(0-9-,${DIRTY})}", "12-3"),
        ("${CUT(GROUP,-,2)}", "20"),
        ("${CUT(GROUP,-,4)}", ""),
        ("${FIELDQTY(GROUP,-)}", "3"),
        ("${FIELDQTY(EMPTY,-)}", "0"),
        ("$[${N} + 1]", "61"),
        ("$[4 > ${FIELDQTY(GROUP,-)}]", "1"),
    ],
)
def test_variable_substitution_and_expressions(text: str, expected: str) -> None:
    values = {"EXTEN": "1005", "DIRTY": "1a;2-3", "EMPTY": "", "N": "60", "GROUP": "1005-20-3000"}
    assert substitute(text, lambda name: values.get(name, "")) == expected


def test_expression_operators() -> None:
    assert evaluate("1 & 0") == "0"
    assert evaluate("1 | 0") == "1"
    assert evaluate('"a" != "b"') == "1"
    assert evaluate("5-1") == "4"
    assert evaluate("-1 + 3") == "2"
    assert evaluate("1 + 2 > 2") == "1"  # arithmetic binds tighter than comparison
    assert evaluate("1.5 + 1") == "2.5"
    assert evaluate("a + 1") == "1"  # ast_expr2 drops a non-numeric operand


def test_patterns_follow_asterisk() -> None:
    assert pattern_regex("_10XX") == "10[0-9][0-9]"
    context = parse("[c]\nexten => _6XX,1,NoOp(x)\n same => n(end),Hangup()\nexten => 600,1,NoOp(literal)\n")["c"]
    assert [p.app for p in context.lookup("601") or []] == ["NoOp", "Hangup"]
    assert (context.lookup("601") or [])[1].label == "end"
    assert (context.lookup("600") or [])[0].data == "literal"
    assert context.lookup("6011") is None


@pytest.mark.parametrize(
    ("number", "first_apps"),
    [
        ("8613800001005", ["NoOp", "Ringing", "Wait", "Answer", "Wait", "Hangup"]),
        ("8613800002000", ["NoOp", "Busy"]),
        ("8613800004000", ["NoOp", "Congestion"]),
        ("8613800001200", ["NoOp", "Answer", "Hangup"]),
        ("8613800000601", ["NoOp", "Ringing", "Wait", "Hangup"]),
        ("12025550123", ["NoOp", "Ringing", "Wait", "Answer", "Wait", "Hangup"]),
    ],
)
def test_the_simulated_trunk_picks_behaviour_from_the_last_four_digits(number: str, first_apps: list[str]) -> None:
    assert [p.app for p in outbound_phone(number) or []] == first_apps


def test_the_default_far_end_talks_a_minute_and_only_10xx_press_1() -> None:
    steps = outbound_phone("12025550123") or []
    assert [p.data for p in steps if p.app == "Wait"] == ["2", "60"]
    assert outbound_phone("+8613800001005") is None
    assert confirm_presses_key("8613800001099") and confirm_presses_key("1001")
    assert not confirm_presses_key("8613800001000") and not confirm_presses_key("8613800001300")


def test_an_interleaving_orders_a_burst_as_recorded_and_keeps_unknown_events_in_place() -> None:
    recorded = [
        [("Event", "B"), ("Channel", "Local/1@c-00000001;1")],
        [("Event", "A"), ("Channel", "Local/1@c-00000001;1")],
    ]
    interleaving = Interleaving.from_messages(recorded)
    names = ["A", "X", "B"]
    keys = [interleaving.key(n, [("Channel", "Local/1@c-0000000a;1")]) for n in names]
    assert interleaving.order(names, keys) == ["B", "A", "X"]
