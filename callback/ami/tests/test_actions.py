"""OriginateRequest and action rendering: exact bytes, panoramisk compatibility, and injection refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from panoramisk.actions import Action as PanoramiskAction  # type: ignore[import-untyped]

from callback.ami import OriginateRequest, encode_action


def basic_request(**overrides: Any) -> OriginateRequest:
    """The README's basic callback Originate, with fixed channel ids."""
    values: dict[str, Any] = {
        "action_id": "cb-101-orig",
        "channel": "Local/1100@phones",
        "context": "callback",
        "exten": "1005",
        "timeout_ms": 30000,
        "caller_id": '"Callback 101" <1005>',
        "variables": {"CALLBACK_ID": "101", "__TENANT": "acme"},
        "channel_id": "cb-101-a",
        "other_channel_id": "cb-101-b",
    }
    values.update(overrides)
    return OriginateRequest(**values)


def test_originate_renders_every_field_with_one_variable_line_each() -> None:
    # when
    payload = encode_action(basic_request().as_action())

    # then
    assert payload == (
        b"Action: Originate\r\n"
        b"ActionID: cb-101-orig\r\n"
        b"Channel: Local/1100@phones\r\n"
        b"Context: callback\r\n"
        b"Exten: 1005\r\n"
        b"Priority: 1\r\n"
        b"Timeout: 30000\r\n"
        b'CallerID: "Callback 101" <1005>\r\n'
        b"Variable: CALLBACK_ID=101\r\n"
        b"Variable: __TENANT=acme\r\n"
        b"ChannelId: cb-101-a\r\n"
        b"OtherChannelId: cb-101-b\r\n"
        b"Async: true\r\n"
        b"\r\n"
    )


def test_optional_fields_are_left_out_when_unset() -> None:
    action = OriginateRequest(action_id="a1", channel="Local/1100@phones", context="callback", exten="1005").as_action()
    assert action == {
        "Action": "Originate",
        "ActionID": "a1",
        "Channel": "Local/1100@phones",
        "Context": "callback",
        "Exten": "1005",
        "Priority": "1",
        "Timeout": "30000",
        "Async": "true",
    }


def test_rendering_matches_panoramisk_line_for_line() -> None:
    """as_action() is a dict panoramisk itself would render the same way (list value = repeated header)."""
    action = basic_request().as_action()

    async def render_with_panoramisk() -> str:
        return str(PanoramiskAction(dict(action)))  # its Action needs a running loop (it makes a Future)

    theirs = asyncio.run(render_with_panoramisk()).encode()
    ours = encode_action(action)
    assert sorted(theirs.split(b"\r\n")) == sorted(ours.split(b"\r\n"))


def test_variables_are_a_frozen_private_copy() -> None:
    source = {"CALLBACK_ID": "101"}
    request = basic_request(variables=source)
    source["CALLBACK_ID"] = "999"
    assert request.variables == {"CALLBACK_ID": "101"}
    with pytest.raises(TypeError):
        request.variables["X"] = "1"  # type: ignore[index]


@pytest.mark.parametrize("field", ["action_id", "channel", "context", "exten", "caller_id", "channel_id"])
@pytest.mark.parametrize("evil", ["1005\r\nAction: Command", "x\nCommand: core restart now", "x\r", "x\x00y"])
def test_line_breaks_in_any_field_are_refused(field: str, evil: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        basic_request(**{field: evil})


@pytest.mark.parametrize("name", ["callback_id", "1ABC", "A-B", "A B", "A=B", "", "ABC\r\n", "Ä"])
def test_variable_names_outside_the_allowed_pattern_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"\[A-Z_\]"):
        basic_request(variables={name: "1"})


@pytest.mark.parametrize(
    "value",
    [
        "101\r\nAction: Command",  # a new AMI line
        "101,EVIL=1",  # Asterisk splits a Variable header on commas: a second variable
        '"101"',  # quotes are stripped by Asterisk's argument parser
        "10\\1",  # and backslashes
        "f(x)",
        "a[1]",
    ],
)
def test_variable_values_that_asterisk_would_reparse_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="channel variable"):
        basic_request(variables={"CALLBACK_ID": value})


def test_plain_variable_values_are_accepted() -> None:
    request = basic_request(variables={"VISITOR": "+8613800138000", "NAME": "张三 = ok"})
    assert request.as_action()["Variable"] == ["VISITOR=+8613800138000", "NAME=张三 = ok"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"channel": ""},
        {"priority": 0},
        {"priority": True},
        {"timeout_ms": 0},
        {"timeout_ms": "30000"},
        {"caller_id": ""},
        {"exten": 1005},
    ],
)
def test_invalid_values_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        basic_request(**overrides)


def test_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        OriginateRequest("a1", "Local/1100@phones", "callback", "1005")  # type: ignore[misc]


@pytest.mark.parametrize(
    "action",
    [
        {"Action": "Ping", "Bad Key": "1"},
        {"Action": "Ping", "Key:": "1"},
        {"Action": "Ping", "Variable": ["A=1", "B=2\r\nAction: Command"]},
        {"Action": "Ping\r\n"},
        {},
    ],
)
def test_encode_action_refuses_anything_that_could_break_framing(action: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        encode_action(action)
