"""Parser tests: framing, byte safety (R8, hazard 5), malformed messages (R9, hazard 6), throughput (R6).

Every stream here is real Asterisk 22 bytes from shared/asterisk/transcripts, or a real message with its
caller name changed to non-ASCII text.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from callback.ami import AmiMessage, AmiParser, parse_messages

TRANSCRIPTS = Path(__file__).resolve().parents[4] / "shared" / "asterisk" / "transcripts"
if not TRANSCRIPTS.is_dir():  # the work tree may sit elsewhere; shared/ is always at /work/shared
    TRANSCRIPTS = Path("/work/shared/asterisk/transcripts")

needs_transcripts = pytest.mark.skipif(not TRANSCRIPTS.is_dir(), reason="shared/asterisk/transcripts not available")


def transcript(name: str) -> bytes:
    return (TRANSCRIPTS / name).read_bytes()


def real_message(raw: bytes, starts_with: bytes) -> bytes:
    """The first message of ``raw`` starting with ``starts_with``, with its CRLF CRLF terminator."""
    for chunk in raw.split(b"\r\n\r\n"):
        if chunk.startswith(starts_with):
            return chunk + b"\r\n\r\n"
    raise AssertionError(f"{starts_with!r} not in transcript")


# A NewCallerid event recorded in transcript 01, with the caller's name made non-ASCII: 2-byte Cyrillic, 3-byte CJK
# and a 4-byte emoji, so every kind of UTF-8 sequence gets split somewhere.
NEW_CALLERID_ASCII = (
    b"Event: NewCallerid\r\nPrivilege: call,all\r\nChannel: Local/1100@phones-00000002;1\r\nChannelState: 0\r\n"
    b"ChannelStateDesc: Down\r\nCallerIDNum: 1005\r\nCallerIDName: Callback 101\r\nConnectedLineNum: <unknown>\r\n"
    b"ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: phones\r\nExten: 1100\r\n"
    b"Priority: 1\r\nUniqueid: 1795300912.4\r\nLinkedid: 1795300912.4\r\nChanVariable: CALLBACK_ID=101\r\n"
    b"CID-CallingPres: 0 (Presentation Allowed, Not Screened)\r\n\r\n"
)
NEW_CALLERID_UTF8 = NEW_CALLERID_ASCII.replace(b"Callback 101", "张三 Привет 📞".encode()).replace(
    b"ConnectedLineName: <unknown>", "ConnectedLineName: Пётр Иванович".encode()
)
LOGIN_REPLY = (
    b"Asterisk Call Manager/11.0.0\r\n"
    b"Response: Success\r\nActionID: login-1\r\nMessage: Authentication accepted\r\n\r\n"
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 267\r\nLastReload: 267\r\nStatus: Fully Booted\r\n\r\n"
)
UTF8_STREAM = LOGIN_REPLY + NEW_CALLERID_UTF8 + NEW_CALLERID_UTF8.replace(b"Callback", b"x")


def test_banner_is_consumed_and_messages_follow() -> None:
    # given the first bytes Asterisk sends after a login (transcript 15, connection 1)
    parser = AmiParser()

    # when
    messages = parser.feed(LOGIN_REPLY)

    # then
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert [(m.kind, m.name) for m in messages] == [("response", "Success"), ("event", "FullyBooted")]
    assert messages[0].fields == {"Response": "Success", "ActionID": "login-1", "Message": "Authentication accepted"}
    assert messages[1].get("Uptime") == "267"
    assert parser.buffered == b""


def test_banner_split_across_reads_is_still_the_banner() -> None:
    parser = AmiParser()
    assert parser.feed(b"Asterisk Call Man") == []
    assert parser.feed(b"ager/11.0.0\r") == []
    messages = parser.feed(b"\nResponse: Success\r\nActionID: a\r\n\r\n")
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert [m.name for m in messages] == ["Success"]


def test_stream_without_banner_parses_from_its_first_message() -> None:
    messages, rest = parse_messages(b"Event: Shutdown\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\nEvent: Fu")
    assert [m.name for m in messages] == ["Shutdown"]
    assert rest == b"Event: Fu"


def test_non_ascii_fields_survive_a_split_at_every_byte_offset() -> None:
    """R8: 0 corrupted non-ASCII fields, whatever byte the TCP read ends on (panoramisk dropped the character)."""
    # given the reference parse of the whole stream
    expected = AmiParser().feed(UTF8_STREAM)
    assert expected[2].get("CallerIDName") == "张三 Привет 📞"
    assert expected[2].get("ConnectedLineName") == "Пётр Иванович"

    for offset in range(1, len(UTF8_STREAM)):
        # when the stream arrives in two reads cut at this offset
        parser = AmiParser()
        got = parser.feed(UTF8_STREAM[:offset]) + parser.feed(UTF8_STREAM[offset:])

        # then the messages are identical
        assert got == expected, f"split at byte {offset}"
        assert parser.invalid_utf8_count == 0


def test_non_ascii_fields_survive_one_byte_reads() -> None:
    parser = AmiParser()
    got: list[AmiMessage] = []
    for index in range(len(UTF8_STREAM)):
        got += parser.feed(UTF8_STREAM[index : index + 1])
    assert got == AmiParser().feed(UTF8_STREAM)


@needs_transcripts
def test_every_real_transcript_parses_identically_at_random_split_points() -> None:
    rng = random.Random(20261121)
    for path in sorted(TRANSCRIPTS.glob("*.ami.raw")):
        raw = path.read_bytes()
        expected = AmiParser().feed(raw)
        assert len(expected) == raw.count(b"\r\n\r\n"), path.name  # nothing skipped in real traffic
        for _ in range(20):
            cuts = sorted(rng.sample(range(1, len(raw)), 3))
            parser = AmiParser()
            got: list[AmiMessage] = []
            for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
                got += parser.feed(raw[start:end])
            assert got == expected, (path.name, cuts)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"Event: Newchannel\r\nEvent: Hangup\r\nChannel: x\r\n\r\n", "repeated Event"),
        (b"Response: Success\r\nResponse: Error\r\nActionID: a\r\n\r\n", "repeated Response"),
        (b"Response: Success\r\nActionID: a\r\nActionID: b\r\n\r\n", "repeated ActionID"),
        (b"Event: Newchannel\r\nthis line has no colon\r\n\r\n", "line without colon"),
        (b"Privilege: call,all\r\nChannel: x\r\n\r\n", "neither Event nor Response"),
        (b"Event: \r\nChannel: x\r\n\r\n", "empty Event"),
        (b"Event: X\r\n: no name\r\n\r\n", "empty header name"),
    ],
)
def test_malformed_message_is_logged_and_skipped_and_the_next_one_parses(
    bad: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """R9 / hazard 6: panoramisk's handler raised and asyncio closed the link."""
    # given a malformed message between two good ones
    good = b"Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: Local/1100@phones\r\nState: INUSE\r\n\r\n"
    parser = AmiParser(expect_banner=False)

    # when
    with caplog.at_level(logging.WARNING, logger="callback.ami"):
        messages = parser.feed(good + bad + good)

    # then
    assert [m.name for m in messages] == ["DeviceStateChange", "DeviceStateChange"]
    assert parser.malformed_count == 1
    assert [r.getMessage().split(" ")[0] for r in caplog.records] == ["ami.parse.malformed"]
    assert reason in caplog.records[0].getMessage()


def test_legitimately_repeated_keys_are_kept_in_order() -> None:
    # given a channel event with two channelvars, and an Asterisk 13+ Command reply
    event = (
        b"Event: Newchannel\r\nChannel: Local/1100@phones-00000002;1\r\nChanVariable: CALLBACK_ID=101\r\n"
        b"ChanVariable: TENANT=acme=1\r\nChanVariable: EMPTY=\r\n\r\n"
    )
    command = (
        b"Response: Success\r\nActionID: c1\r\nMessage: Command output follows\r\n"
        b"Output: Channel              Location\r\nOutput: 0 active channels\r\n\r\n"
    )

    # when
    parsed_event, parsed_command = AmiParser(expect_banner=False).feed(event + command)

    # then
    assert parsed_event.fields["ChanVariable"] == "CALLBACK_ID=101"
    assert parsed_event.getall("ChanVariable") == ("CALLBACK_ID=101", "TENANT=acme=1", "EMPTY=")
    assert parsed_event.chan_variables() == {"CALLBACK_ID": "101", "TENANT": "acme=1", "EMPTY": ""}
    assert parsed_command.getall("Output") == ("Channel              Location", "0 active channels")
    assert parsed_command.getall("Missing") == ()


@needs_transcripts
def test_chan_variable_keyed_by_channel_on_originate_response() -> None:
    # given the OriginateResponse of transcript 14: "ChanVariable(Local/1100@phones-0000001f;1): CALLBACK_ID=304"
    raw = real_message(transcript("14-originate-with-channelid.ami.raw"), b"Event: OriginateResponse")

    # when
    (message,) = AmiParser(expect_banner=False).feed(raw)

    # then it is an event (although it carries "Response: Success"), correlated by ActionID
    assert (message.kind, message.name) == ("event", "OriginateResponse")
    assert message.get("Response") == "Success"
    assert message.action_id == "cb-304-orig"
    assert message.chan_variables() == {"CALLBACK_ID": "304"}


def test_get_falls_back_to_case_insensitive_keys() -> None:
    # Cdr events spell it UniqueID, channel events Uniqueid.
    (cdr,) = AmiParser(expect_banner=False).feed(b"Event: Cdr\r\nUniqueID: 1795300913.7\r\n\r\n")
    assert cdr.get("Uniqueid") == "1795300913.7"
    assert cdr.get("uniqueid") == "1795300913.7"
    assert cdr.get("Linkedid") is None
    assert cdr.get("Linkedid", "") == ""


def test_invalid_utf8_is_replaced_only_in_its_own_message(caplog: pytest.LogCaptureFixture) -> None:
    good = NEW_CALLERID_UTF8
    bad = b"Event: UserEvent\r\nData: \xff\xfe broken\r\n\r\n"
    parser = AmiParser(expect_banner=False)
    with caplog.at_level(logging.WARNING, logger="callback.ami"):
        first, broken, last = parser.feed(good + bad + good)
    assert first.get("CallerIDName") == last.get("CallerIDName") == "张三 Привет 📞"
    assert broken.get("Data") == "\ufffd\ufffd broken"
    assert parser.invalid_utf8_count == 1
    assert "ami.parse.invalid_utf8" in caplog.text


def test_oversized_message_is_dropped_and_parsing_resumes(caplog: pytest.LogCaptureFixture) -> None:
    parser = AmiParser(expect_banner=False, max_message_bytes=1000)
    with caplog.at_level(logging.WARNING, logger="callback.ami"):
        assert parser.feed(b"Event: Huge\r\nData: " + b"x" * 600) == []
        assert parser.feed(b"x" * 600) == []  # over the limit: dropped, not buffered
        assert len(parser.buffered) <= 3
        messages = parser.feed(b"x" * 10 + b"\r\n\r\nEvent: Next\r\nA: 1\r\n\r\n")
    assert [m.name for m in messages] == ["Next"]
    assert "ami.parse.oversized" in caplog.text


def test_stray_blank_lines_between_messages_are_ignored() -> None:
    messages = AmiParser(expect_banner=False).feed(b"Event: A\r\nX: 1\r\n\r\n\r\n\r\nEvent: B\r\nX: 2\r\n\r\n")
    assert [m.name for m in messages] == ["A", "B"]


def test_parse_messages_returns_the_incomplete_rest() -> None:
    messages, rest = parse_messages(LOGIN_REPLY + b"Event: Partial\r\nA: 1\r\n")
    assert [m.name for m in messages] == ["Success", "FullyBooted"]
    assert rest == b"Event: Partial\r\nA: 1\r\n"


def test_messages_are_frozen_and_read_only() -> None:
    (message,) = AmiParser(expect_banner=False).feed(b"Event: A\r\nX: 1\r\n\r\n")
    with pytest.raises(AttributeError):
        message.name = "B"  # type: ignore[misc]
    with pytest.raises(TypeError):
        message.fields["X"] = "2"  # type: ignore[index]


@needs_transcripts
def test_real_traffic_read_in_64_kib_chunks_yields_every_message() -> None:
    """How fast is bench-engine's business (R6); here, that a busy socket's reads lose nothing."""
    # given real traffic, ~390 bytes a message, fed in 64 KiB reads like a busy socket
    body = b"".join(p.read_bytes().split(b"\r\n", 1)[1] for p in sorted(TRANSCRIPTS.glob("*.ami.raw")))
    stream = b"Asterisk Call Manager/11.0.0\r\n" + body * 3
    chunks = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
    # when
    parser = AmiParser()
    count = sum(len(parser.feed(chunk)) for chunk in chunks)
    # then
    assert count == stream.count(b"\r\n\r\n")
