"""Huibo's production contexts as the simulator runs them: the Originate Huibo's engine sends, the simulated
trunk's number codes, the optional agent confirmation, the call cap and simultaneous ring.

The first leg rings ``Local/<first>@huibo-outbound``, or for a ring group ``Local/s@huibo-ringall``, whose
``;2`` half dials every member at once; once it answers, [huibo-callback] (read from asterisk/extensions.conf
like [huibo-ringall]) dials the second number. The simulator's [huibo-outbound] picks the far end's
behaviour from the number's last four digits.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from asterisk.simulator import Simulator
from asterisk.simulator.tests.client import AmiClient, Message, originate

ENTERPRISE = "8613800001100"  # answers after 1 s and stays up
VISITOR_TALKS_5S = "8613900001005"
VARIABLES = {"HUIBO_ATTEMPT": "42", "HUIBO_RING_TIMEOUT": "30", "HUIBO_DIAL_TIMEOUT": "20", "HUIBO_MAX_SECONDS": "0"}


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=20))


async def _call(
    first: str,
    second: str,
    variables: dict[str, str] | None = None,
    until: Callable[[Message], bool] | None = None,
    recordings_dir: Path | None = None,
    first_context: str = "huibo-outbound",
    **extra: str,
) -> tuple[AmiClient, Simulator]:
    sim = Simulator(time_scale=0.005, read="all", recordings_dir=recordings_dir)
    await sim.start()
    client = await AmiClient.connect(sim.port)
    await client.login()
    variables = {**VARIABLES, **(variables or {})}
    await client.send_pairs(originate("cb", first, second, variables, first_context, **extra))
    # The call is over once every channel it created has hung up; the rest of that last burst (CDRs, the
    # OriginateResponse) was written with it, so it is read until the line is quiet.
    while True:
        message = await client.read_message(timeout=5)
        assert message is not None
        created, ended = len(_events(client, "Newchannel")), len(_events(client, "Hangup"))
        if created and created == ended or (until is not None and until(message)):
            break
        if not created and _events(client, "OriginateResponse"):
            break
    try:
        while await client.read_message(timeout=0.2) is not None:
            pass
    except TimeoutError:
        pass
    return client, sim


def _events(client: AmiClient, name: str, **match: str) -> list[Message]:
    return [m for m in client.messages if m.get("Event") == name and all(m.get(k) == v for k, v in match.items())]


def test_enterprise_first_rings_the_enterprise_then_bridges_the_visitor() -> None:
    """The agent answers after 1 s, the visitor after 1 s more, talks 5 s and hangs up; every channel of the
    callback carries the attempt id, and all share the Linkedid the engine chose as ChannelId."""

    async def story() -> None:
        client, sim = await _call(ENTERPRISE, VISITOR_TALKS_5S, ChannelId="att-42-a", OtherChannelId="att-42-b")
        try:
            answered = _events(client, "OriginateResponse")[0]
            assert (answered["Response"], answered["Reason"], answered["Uniqueid"]) == ("Success", "4", "att-42-a")
            assert answered["Channel"].startswith(f"Local/{ENTERPRISE}@huibo-outbound-")
            assert answered[f"ChanVariable({answered['Channel']})"] == "HUIBO_ATTEMPT=42"
            channels = [m["Channel"] for m in _events(client, "Newchannel")]
            assert [c.rsplit("-", 1)[0] for c in channels] == [
                f"Local/{ENTERPRISE}@huibo-outbound",
                f"Local/{ENTERPRISE}@huibo-outbound",
                f"Local/{VISITOR_TALKS_5S}@huibo-outbound",
                f"Local/{VISITOR_TALKS_5S}@huibo-outbound",
            ]
            assert {m["Linkedid"] for m in client.messages if "Linkedid" in m} == {"att-42-a"}
            # what the production AMI user reads (class call): the attempt id on every channel event but
            # Newchannel, which Asterisk sends before any variable is set
            call_events = [m for m in client.messages if m.get("Privilege") == "call,all" and "ChanVariable" in m]
            assert {m["ChanVariable"] for m in call_events if m["Event"] != "Newchannel"} == {"HUIBO_ATTEMPT=42"}
            assert {m["ChanVariable"] for m in _events(client, "Newchannel")} == {"HUIBO_ATTEMPT="}
            assert [m["BridgeNumChannels"] for m in _events(client, "BridgeEnter")] == ["1", "2"]
            visitor_dial = _events(client, "DialEnd", Channel=answered["Channel"])[0]
            assert visitor_dial["DialStatus"] == "ANSWER"
            assert [m["Cause"] for m in _events(client, "Hangup")] == ["16"] * 4
            cdrs = {m["Channel"].rsplit("-", 1)[0] + m["Channel"][-2:]: m for m in _events(client, "Cdr")}
            assert len(cdrs) == 3
            visitor = cdrs[f"Local/{VISITOR_TALKS_5S}@huibo-outbound;2"]
            assert (visitor["Disposition"], visitor["BillableSeconds"]) == ("ANSWERED", "5")
            agent = cdrs[f"Local/{ENTERPRISE}@huibo-outbound;1"]
            assert agent["DestinationChannel"].startswith(f"Local/{VISITOR_TALKS_5S}@huibo-outbound-")
            assert (agent["LastApplication"], agent["DestinationContext"]) == ("Dial", "huibo-callback")
        finally:
            await sim.stop()

    run(story)


def test_visitor_first_is_the_same_originate_with_the_numbers_swapped() -> None:
    async def story() -> None:
        client, sim = await _call(VISITOR_TALKS_5S, ENTERPRISE)
        try:
            answered = _events(client, "OriginateResponse")[0]
            assert answered["Channel"].startswith(f"Local/{VISITOR_TALKS_5S}@huibo-outbound-")
            assert answered["Exten"] == ENTERPRISE
            dial = _events(client, "DialBegin", Channel=answered["Channel"])[0]
            assert dial["DestChannel"].startswith(f"Local/{ENTERPRISE}@huibo-outbound-")
            assert dial["DialString"] == f"{ENTERPRISE}@huibo-outbound/n"
        finally:
            await sim.stop()

    run(story)


@pytest.mark.parametrize(
    ("first", "reason", "cause"),
    [
        ("8613800002000", "5", "17"),  # busy
        ("8613800004000", "8", "34"),  # congestion
        ("8613800000601", "0", "1"),  # rings 1 s, unallocated number
        ("8613800000621", "0", "21"),  # rings 1 s, rejected
    ],
)
def test_a_first_leg_that_fails_reports_reason_and_cause(first: str, reason: str, cause: str) -> None:
    async def story() -> None:
        client, sim = await _call(first, VISITOR_TALKS_5S)
        try:
            failed = _events(client, "OriginateResponse")[0]
            assert (failed["Response"], failed["Reason"], failed["Uniqueid"]) == ("Failure", reason, "<unknown>")
            phone_side = [m for m in _events(client, "Hangup") if m["Channel"].endswith(";2")]
            assert phone_side[0]["Cause"] == cause
            assert not _events(client, "DialBegin", Exten=VISITOR_TALKS_5S)
        finally:
            await sim.stop()

    run(story)


def test_a_first_leg_nobody_answers_times_out_with_reason_3() -> None:
    async def story() -> None:
        client, sim = await _call("8613800003000", VISITOR_TALKS_5S, Timeout="5000")
        try:
            failed = _events(client, "OriginateResponse")[0]
            assert (failed["Response"], failed["Reason"]) == ("Failure", "3")
            assert {m["Cause"] for m in _events(client, "Hangup")} == {"19"}
        finally:
            await sim.stop()

    run(story)


@pytest.mark.parametrize(
    ("visitor", "dial_status", "visitor_cause"),
    [
        ("8613900002000", "BUSY", "17"),
        ("8613900004000", "CONGESTION", "34"),
        ("8613900003000", "NOANSWER", "0"),  # rings until HUIBO_DIAL_TIMEOUT (20 s)
        ("8613900000601", "NOANSWER", "1"),  # DIALSTATUS says CHANUNAVAIL, as in transcript 07b
        ("8613912345678", "ANSWER", "16"),  # any other number: rings 2 s, talks 60 s
    ],
)
def test_the_second_leg_outcome_shows_in_dialend_and_the_visitor_cause(
    visitor: str, dial_status: str, visitor_cause: str
) -> None:
    async def story() -> None:
        client, sim = await _call(ENTERPRISE, visitor)
        try:
            answered = _events(client, "OriginateResponse")[0]
            assert answered["Response"] == "Success"
            assert _events(client, "DialEnd", Channel=answered["Channel"])[0]["DialStatus"] == dial_status
            [visitor_phone] = [
                m
                for m in _events(client, "Hangup")
                if m["Channel"].startswith(f"Local/{visitor}@") and m["Channel"].endswith(";2")
            ]
            assert visitor_phone["Cause"] == visitor_cause
        finally:
            await sim.stop()

    run(story)


def test_the_default_far_end_rings_two_seconds_then_talks_a_minute() -> None:
    async def story() -> None:
        client, sim = await _call(ENTERPRISE, "8613912345678")
        try:
            cdr = [m for m in _events(client, "Cdr") if m["Channel"].startswith("Local/8613912345678@")][0]
            assert (cdr["Disposition"], cdr["Duration"], cdr["BillableSeconds"]) == ("ANSWERED", "62", "60")
        finally:
            await sim.stop()

    run(story)


def test_confirmation_dials_the_visitor_once_the_agent_presses_1() -> None:
    async def story() -> None:
        client, sim = await _call("8613800001030", VISITOR_TALKS_5S, {"HUIBO_CONFIRM": "1"})
        try:
            apps = [m["Application"] for m in _events(client, "Newexten", Context="huibo-callback")]
            assert apps[apps.index("Read") :][:3] == ["Read", "GotoIf", "Dial"]
            assert _events(client, "VarSet", Variable="HUIBO_KEY")[0]["Value"] == "1"
            assert _events(client, "BridgeEnter", BridgeNumChannels="2")
        finally:
            await sim.stop()

    run(story)


def test_an_agent_who_never_presses_a_key_is_hung_up_without_dialing_the_visitor() -> None:
    async def story() -> None:
        client, sim = await _call("8613800001300", VISITOR_TALKS_5S, {"HUIBO_CONFIRM": "1"})
        try:
            assert _events(client, "VarSet", Variable="READSTATUS")[0]["Value"] == "TIMEOUT"
            assert not _events(client, "DialBegin", Exten=VISITOR_TALKS_5S)
            assert not [
                m for m in _events(client, "Newchannel") if m["Channel"].startswith(f"Local/{VISITOR_TALKS_5S}")
            ]
            assert len(_events(client, "Hangup")) == 2
        finally:
            await sim.stop()

    run(story)


def test_huibo_max_seconds_caps_the_call_from_the_moment_the_agent_answered() -> None:
    async def story() -> None:
        client, sim = await _call(ENTERPRISE, "8613900001100", {"HUIBO_MAX_SECONDS": "4"})
        try:
            limit = _events(client, "Newexten", Application="ExecIf")[0]
            assert limit["AppData"] == "1?Set(TIMEOUT(absolute)=4)"
            agent = [m for m in _events(client, "Cdr") if m["Channel"].endswith(";1")][0]
            assert (agent["Disposition"], agent["BillableSeconds"]) == ("ANSWERED", "4")
            assert not sim.channels()
        finally:
            await sim.stop()

    run(story)


def test_only_filtered_characters_of_the_attempt_id_reach_the_dialplan() -> None:
    async def story() -> None:
        client, sim = await _call(ENTERPRISE, VISITOR_TALKS_5S, {"HUIBO_ATTEMPT": "42;Hangup"})
        try:
            inherited = _events(client, "VarSet", Variable="__HUIBO_ATTEMPT")[0]
            assert inherited["Value"] == "42Hangup"
        finally:
            await sim.stop()

    run(story)


def test_only_digits_of_the_visitor_number_are_dialled() -> None:
    """``_X.`` matches anything after a first digit, as in Asterisk; FILTER(0-9) keeps the trunk safe."""

    async def story() -> None:
        client, sim = await _call(ENTERPRISE, "8613900001005&PJSIP/evil")
        try:
            dial = _events(client, "Newexten", Application="Dial")[0]
            assert dial["AppData"] == "Local/8613900001005@huibo-outbound/n,20"
        finally:
            await sim.stop()

    run(story)


def test_an_extension_without_a_leading_digit_does_not_exist() -> None:
    async def story() -> None:
        async with Simulator(time_scale=0.01) as sim:
            client = await AmiClient.connect(sim.port)
            await client.login()
            await client.send_pairs(originate("bad", ENTERPRISE, "+8613900001005"))
            reply = await client.response("bad")
            assert (reply["Response"], reply["Message"]) == ("Error", "Extension does not exist.")
            assert sim.channels() == []

    run(story)


def test_a_bridged_call_with_huibo_record_writes_a_wav(tmp_path: Path) -> None:
    async def story() -> None:
        client, sim = await _call(
            ENTERPRISE, VISITOR_TALKS_5S, {"HUIBO_RECORD": "1"}, recordings_dir=tmp_path, ChannelId="rec-1"
        )
        await sim.stop()

    run(story)
    [recording] = list(tmp_path.glob("*.wav"))
    assert recording.name == "rec-1.wav"
    with wave.open(str(recording)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (1, 8000, 2)
        assert wav.getnframes() > 0


# -- simultaneous ring ([huibo-ringall]) -------------------------------------------------------------------

NEVER_ANSWERS = "8613800003000"
RINGS_1S_THEN_ANSWERS = ENTERPRISE
RINGS_2S_THEN_ANSWERS = "8613812345678"  # no code in its last four digits: rings 2 s, answers, talks 60 s


async def _ring_group(
    members: list[str],
    visitor: str,
    variables: dict[str, str] | None = None,
    until: Callable[[Message], bool] | None = None,
    recordings_dir: Path | None = None,
) -> tuple[AmiClient, Simulator]:
    """The Originate Huibo sends for a ring group: the members' digits joined by '-' in HUIBO_RING_GROUP."""
    group = {"HUIBO_RING_GROUP": "-".join(members), **(variables or {})}
    return await _call(
        "s",
        visitor,
        group,
        until,
        recordings_dir,
        first_context="huibo-ringall",
        ChannelId="att-42-a",
        OtherChannelId="att-42-b",
    )


def _channel(client: AmiClient, uniqueid: str) -> str:
    return _events(client, "Newchannel", Uniqueid=uniqueid)[0]["Channel"]


def _pair(channel: str) -> str:
    """``Local/…-0000000a;1`` -> ``Local/…-0000000a``: both halves of one Local channel."""
    return channel.rsplit(";", 1)[0]


def test_a_ring_group_bridges_the_member_who_answers_and_cancels_the_others() -> None:
    """Three bound numbers ring at once: one never answers, one answers after 1 s, one would answer after 2 s.
    The group's ;2 Dial names the first to answer in its DialEnd ANSWER and bridges it; the other two get
    DialEnd CANCEL and hang up as answered elsewhere (cause 26). The Originate succeeds, [huibo-callback]
    dials the visitor, who talks 5 s and hangs up; every channel hangs up and the CDRs come."""

    async def story() -> None:
        # given a group of three, one of whom answers first
        group = [NEVER_ANSWERS, RINGS_1S_THEN_ANSWERS, RINGS_2S_THEN_ANSWERS]
        # when Huibo rings the group
        client, sim = await _ring_group(group, VISITOR_TALKS_5S)
        try:
            # then the group's ;2 dials every member at once, in the group's order
            group_1, group_2 = _channel(client, "att-42-a"), _channel(client, "att-42-b")
            assert group_1.startswith("Local/s@huibo-ringall-") and _pair(group_1) == _pair(group_2)
            begins = _events(client, "DialBegin", Channel=group_2)
            assert [m["DialString"] for m in begins] == [f"{number}@huibo-outbound/n" for number in group]
            member = {number: m["DestChannel"] for number, m in zip(group, begins, strict=True)}
            assert all(member[n].startswith(f"Local/{n}@huibo-outbound-") and member[n].endswith(";1") for n in group)
            # the first to answer is named and bridged; the others are cancelled and hang up
            [answered] = _events(client, "DialEnd", Channel=group_2, DialStatus="ANSWER")
            assert answered["DestChannel"] == member[RINGS_1S_THEN_ANSWERS]
            cancelled = [m["DestChannel"] for m in _events(client, "DialEnd", Channel=group_2, DialStatus="CANCEL")]
            assert cancelled == [member[NEVER_ANSWERS], member[RINGS_2S_THEN_ANSWERS]]
            for loser in (NEVER_ANSWERS, RINGS_2S_THEN_ANSWERS):
                halves = [m for m in _events(client, "Hangup") if _pair(m["Channel"]) == _pair(member[loser])]
                assert [(m["Cause"], m["Cause-txt"]) for m in halves] == [("26", "Answered elsewhere")] * 2
            # the Originate succeeds and [huibo-callback] on the group's ;1 dials the visitor and bridges it
            [response] = _events(client, "OriginateResponse")
            assert (response["Response"], response["Reason"], response["Channel"]) == ("Success", "4", group_1)
            [visitor_dial] = _events(client, "DialEnd", Channel=group_1)
            assert visitor_dial["DialStatus"] == "ANSWER"
            assert visitor_dial["DestChannel"].startswith(f"Local/{VISITOR_TALKS_5S}@huibo-outbound-")
            bridged = [m["Channel"] for m in _events(client, "BridgeEnter")]
            assert bridged == [member[RINGS_1S_THEN_ANSWERS], group_2, visitor_dial["DestChannel"], group_1]
            # every channel hangs up, all of them one call (Linkedid) carrying the attempt id
            created = [m["Channel"] for m in _events(client, "Newchannel")]
            assert len(created) == 10 and sorted(created) == sorted(m["Channel"] for m in _events(client, "Hangup"))
            assert {m["Linkedid"] for m in client.messages if "Linkedid" in m} == {"att-42-a"}
            call_events = [m for m in client.messages if m.get("Privilege") == "call,all" and "ChanVariable" in m]
            assert {m["ChanVariable"] for m in call_events if m["Event"] != "Newchannel"} == {"HUIBO_ATTEMPT=42"}
            # the group's ;2 writes one CDR per member; every ;2 and the group's ;1 write theirs
            group_cdrs = {m["DestinationChannel"]: m["Disposition"] for m in _events(client, "Cdr", Channel=group_2)}
            assert group_cdrs == {
                member[NEVER_ANSWERS]: "NO ANSWER",
                member[RINGS_1S_THEN_ANSWERS]: "ANSWERED",
                member[RINGS_2S_THEN_ANSWERS]: "NO ANSWER",
            }
            [callback_cdr] = _events(client, "Cdr", Channel=group_1)
            assert (callback_cdr["DestinationChannel"], callback_cdr["Disposition"]) == (
                visitor_dial["DestChannel"],
                "ANSWERED",
            )
            with_cdr = {m["Channel"] for m in _events(client, "Cdr")}
            assert with_cdr == {c for c in created if c.endswith(";2")} | {group_1}
        finally:
            await sim.stop()

    run(story)


def test_the_member_who_answers_first_wins_whatever_its_place_in_the_group() -> None:
    """The first member rings 2 s before answering, the second 1 s: the second is bridged, the first cancelled."""

    async def story() -> None:
        client, sim = await _ring_group([RINGS_2S_THEN_ANSWERS, RINGS_1S_THEN_ANSWERS], VISITOR_TALKS_5S)
        try:
            group_2 = _channel(client, "att-42-b")
            ends = {m["DialStatus"]: m["DestChannel"] for m in _events(client, "DialEnd", Channel=group_2)}
            assert ends.keys() == {"ANSWER", "CANCEL"}
            assert ends["ANSWER"].startswith(f"Local/{RINGS_1S_THEN_ANSWERS}@huibo-outbound-")
            assert ends["CANCEL"].startswith(f"Local/{RINGS_2S_THEN_ANSWERS}@huibo-outbound-")
        finally:
            await sim.stop()

    run(story)


@pytest.mark.parametrize(
    ("members", "dial_status", "reason", "cause"),
    [
        (["8613800002000"] * 3, "BUSY", "5", "17"),
        (["8613800004000"] * 2, "CONGESTION", "8", "34"),
        # app_dial's rule for a mix: every member failed, one was busy -> BUSY (a rejection counts unavailable)
        (["8613800002000", "8613800004000", "8613800000621"], "BUSY", "5", "17"),
    ],
    ids=["all-busy", "all-congested", "busy-congested-rejected"],
)
def test_a_group_that_is_all_busy_fails_as_one_busy_number_would(
    members: list[str], dial_status: str, reason: str, cause: str
) -> None:
    """Every member refuses: the group's Dial ends with app_dial's DIALSTATUS, the group's ;2 passes it on to
    the Originate as one number's phone would, and nobody dials the visitor."""

    async def story() -> None:
        client, sim = await _ring_group(members, VISITOR_TALKS_5S)
        try:
            group_1, group_2 = _channel(client, "att-42-a"), _channel(client, "att-42-b")
            assert _events(client, "VarSet", Channel=group_2, Variable="DIALSTATUS")[-1]["Value"] == dial_status
            [response] = _events(client, "OriginateResponse")
            assert (response["Response"], response["Reason"], response["Uniqueid"]) == ("Failure", reason, "att-42-a")
            assert [m["DialStatus"] for m in _events(client, "DialEnd", DestChannel=group_1)] == [dial_status]
            assert _events(client, "Hangup", Channel=group_2)[0]["Cause"] == cause
            assert not _events(client, "DialBegin", Channel=group_1)
            assert not [
                m for m in _events(client, "Newchannel") if m["Channel"].startswith(f"Local/{VISITOR_TALKS_5S}")
            ]
        finally:
            await sim.stop()

    run(story)


def test_a_group_nobody_answers_rings_out_with_reason_3() -> None:
    """Nobody picks up: the Originate's Timeout (30 s, as HUIBO_RING_TIMEOUT) started before the group's Dial,
    so it expires first. The group's ;1 hangs up with cause 19, the group's Dial cancels every member, and the
    OriginateResponse says Reason 3, as for one number ringing out."""

    async def story() -> None:
        client, sim = await _ring_group([NEVER_ANSWERS, NEVER_ANSWERS], VISITOR_TALKS_5S)
        try:
            group_1, group_2 = _channel(client, "att-42-a"), _channel(client, "att-42-b")
            [response] = _events(client, "OriginateResponse")
            assert (response["Response"], response["Reason"]) == ("Failure", "3")
            assert [m["DialStatus"] for m in _events(client, "DialEnd", Channel=group_2)] == ["CANCEL", "CANCEL"]
            assert [m["Cause"] for m in _events(client, "Hangup") if _pair(m["Channel"]) == _pair(group_1)] == [
                "19",
                "19",
            ]
            assert not _events(client, "DialBegin", Channel=group_1)
        finally:
            await sim.stop()

    run(story)


@pytest.mark.parametrize(
    ("ring_group", "dialled"),
    [
        ("8613800001005&PJSIP/evil-8613800001100;Hangup(),${EXTEN}", ["8613800001005", "8613800001100"]),
        # the CR LF ends the header on the wire: the second line is a header of its own, which Originate ignores
        ("1005-20\r\nAction: Hangup", ["1005", "20"]),
    ],
)
def test_only_digits_of_the_ring_group_reach_the_dial(ring_group: str, dialled: list[str]) -> None:
    async def story() -> None:
        client, sim = await _ring_group([ring_group], VISITOR_TALKS_5S, until=lambda m: m.get("Application") == "Dial")
        try:
            [dial] = _events(client, "Newexten", Application="Dial", Context="huibo-ringall")
            assert dial["AppData"] == "&".join(f"Local/{number}@huibo-outbound/n" for number in dialled) + ",30"
        finally:
            await sim.stop()

    run(story)


@pytest.mark.parametrize(("visitor", "recordings"), [(VISITOR_TALKS_5S, ["att-42-a.wav"]), ("8613900002000", [])])
def test_a_ring_group_records_only_the_callback_bridge(tmp_path: Path, visitor: str, recordings: list[str]) -> None:
    """MixMonitor runs in [huibo-callback], not on the group's bridge to the member: a visitor who is busy
    leaves no recording."""

    async def story() -> None:
        client, sim = await _ring_group([ENTERPRISE], visitor, {"HUIBO_RECORD": "1"}, recordings_dir=tmp_path)
        await sim.stop()

    run(story)
    assert sorted(path.name for path in tmp_path.glob("*.wav")) == recordings
