"""The dialplan the simulator runs: a reader for the extensions.conf subset Huibo uses, pbx.c's variable
substitution (``${VAR}``, ``${VAR:offset:length}``, the functions ``FILTER``, ``LEN``, ``CUT``, ``FIELDQTY``,
``$[expression]`` with comparisons, ``&``, ``|``, ``+`` and ``-``), and the contexts themselves.

* ``[phones]`` and ``[callback]`` are copied from the configuration the transcripts were recorded with, so
  the simulator dials the same numbers to the same behaviours.
* ``[huibo-callback]`` and ``[huibo-ringall]`` are read from Huibo's production ``asterisk/extensions.conf``:
  the simulator runs the very dialplan production runs.
* ``[huibo-outbound]`` in production dials the SIP trunk. The simulator has no trunk: here the last four
  digits of the number choose a telephone behaviour, with the codes of ``[phones]`` (see ``outbound_phone``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PRODUCTION_EXTENSIONS = Path(__file__).resolve().parent.parent / "extensions.conf"

RECORDED_DIALPLAN = """
[phones]
exten => _10XX,1,NoOp(phone ${EXTEN}: ring 1s, answer, talk ${EXTEN:2}s, hang up)
 same => n,Ringing()
 same => n,Wait(1)
 same => n,Answer()
 same => n,Wait(${EXTEN:2})
 same => n,Hangup(16)

exten => 1100,1,NoOp(phone ${EXTEN}: ring 1s, answer, stay up)
 same => n,Ringing()
 same => n,Wait(1)
 same => n,Answer()
 same => n,Wait(3600)
 same => n,Hangup(16)

exten => 1200,1,NoOp(phone ${EXTEN}: answer and hang up immediately)
 same => n,Answer()
 same => n,Hangup(16)

exten => 2000,1,NoOp(phone ${EXTEN}: busy)
 same => n,Busy(10)

exten => 3000,1,NoOp(phone ${EXTEN}: rings, never answers)
 same => n,Ringing()
 same => n,Wait(120)
 same => n,Hangup(19)

exten => 4000,1,NoOp(phone ${EXTEN}: congestion)
 same => n,Congestion(10)

exten => _6XX,1,NoOp(phone ${EXTEN}: ring 1s then reject with cause ${EXTEN:1})
 same => n,Ringing()
 same => n,Wait(1)
 same => n,Hangup(${EXTEN:1})

[callback]
exten => _X.,1,NoOp(callback ${CALLBACK_ID}: agent answered, dialing visitor ${EXTEN})
 same => n,Set(__CALLBACK_ID=${CALLBACK_ID})
 same => n,ExecIf($["${DIAL_TIMEOUT}" = ""]?Set(DIAL_TIMEOUT=30))
 same => n,Dial(Local/${EXTEN}@phones,${DIAL_TIMEOUT})
 same => n,NoOp(callback ${CALLBACK_ID}: DIALSTATUS=${DIALSTATUS} HANGUPCAUSE=${HANGUPCAUSE})
 same => n,Hangup()
"""


@dataclass(frozen=True)
class Priority:
    number: int
    app: str
    data: str
    label: str | None = None


class Context:
    """A dialplan context: ``lookup(exten)`` gives the extension's priorities, or None if it does not exist."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._literal: dict[str, list[Priority]] = {}
        self._patterns: list[tuple[re.Pattern[str], list[Priority]]] = []

    def add(self, exten: str, priority: Priority) -> None:
        if exten.startswith("_"):
            regex = pattern_regex(exten)
            for compiled, priorities in self._patterns:
                if compiled.pattern == regex:
                    priorities.append(priority)
                    return
            self._patterns.append((re.compile(regex), [priority]))
        else:
            self._literal.setdefault(exten, []).append(priority)

    def lookup(self, exten: str) -> Sequence[Priority] | None:
        if exten in self._literal:
            return self._literal[exten]
        for compiled, priorities in self._patterns:
            if compiled.fullmatch(exten):
                return priorities
        return None


class GeneratedContext(Context):
    """A context whose extensions a function writes (the simulated trunk)."""

    def __init__(self, name: str, make: Callable[[str], Sequence[Priority] | None]) -> None:
        super().__init__(name)
        self._make = make

    def lookup(self, exten: str) -> Sequence[Priority] | None:
        return self._make(exten)


def pattern_regex(pattern: str) -> str:
    """Asterisk's ``_`` patterns: X, Z, N, [ranges], ``.`` (one or more), ``!`` (zero or more)."""
    out = []
    body = pattern[1:]
    i = 0
    while i < len(body):
        char = body[i]
        upper = char.upper()
        if upper == "X":
            out.append("[0-9]")
        elif upper == "Z":
            out.append("[1-9]")
        elif upper == "N":
            out.append("[2-9]")
        elif char == ".":
            out.append(".+")
        elif char == "!":
            out.append(".*")
        elif char == "[":
            end = body.index("]", i)
            out.append("[" + body[i + 1 : end] + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


_LINE = re.compile(r"^(exten|same)\s*=>?\s*(.*)$")


def parse(text: str, only: set[str] | None = None) -> dict[str, Context]:
    """Read extensions.conf text into contexts (``[general]`` and ``[globals]`` are skipped)."""
    contexts: dict[str, Context] = {}
    current: Context | None = None
    last_exten: str | None = None
    last_number = 0
    for raw in text.splitlines():
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if line.startswith("[") and "]" in line:
            name = line[1 : line.index("]")]
            skip = name in ("general", "globals") or (only is not None and name not in only)
            current = None if skip else contexts.setdefault(name, Context(name))
            last_exten, last_number = None, 0
            continue
        match = _LINE.match(line)
        if current is None or match is None:
            continue
        kind, rest = match.groups()
        if kind == "exten":
            exten, _, rest = rest.partition(",")
            last_exten = exten.strip()
        if last_exten is None:
            continue
        prio_text, _, app_text = rest.partition(",")
        prio_text = prio_text.strip()
        label = None
        if "(" in prio_text:
            label = prio_text[prio_text.index("(") + 1 : prio_text.rindex(")")]
            prio_text = prio_text[: prio_text.index("(")]
        number = last_number + 1 if prio_text == "n" else int(prio_text)
        last_number = number
        app, data = _split_app(app_text.strip())
        current.add(last_exten, Priority(number=number, app=app, data=data, label=label))
    return contexts


def _strip_comment(line: str) -> str:
    out = []
    escaped = False
    for char in line:
        if char == ";" and not escaped:
            break
        escaped = char == "\\" and not escaped
        out.append(char)
    return "".join(out)


def _split_app(text: str) -> tuple[str, str]:
    if "(" not in text:
        return text, ""
    name = text[: text.index("(")]
    data = text[text.index("(") + 1 :]
    if data.endswith(")"):
        data = data[:-1]
    return name.strip(), data


# ---------------------------------------------------------------------------------------------------------
# Substitution (pbx_substitute_variables_helper) and expressions (ast_expr)
# ---------------------------------------------------------------------------------------------------------

Lookup = Callable[[str], str]


@dataclass(frozen=True)
class _Expansion:
    """``${...}`` (``variable``) or ``$[...]``, whose inside is itself substituted first."""

    variable: bool
    inner: tuple[str | _Expansion, ...]


def substitute(text: str, lookup: Lookup) -> str:
    if "$" not in text:
        return text
    return _expand(_template(text), lookup)


def _expand(template: tuple[str | _Expansion, ...], lookup: Lookup) -> str:
    out: list[str] = []
    for part in template:
        if isinstance(part, str):
            out.append(part)
        else:
            inner = _expand(part.inner, lookup)
            out.append(_variable(inner, lookup) if part.variable else evaluate(inner))
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _template(text: str) -> tuple[str | _Expansion, ...]:
    """``text`` split into literal runs and expansions, once per priority's data rather than once per call."""
    parts: list[str | _Expansion] = []
    literal_from = i = 0
    while i < len(text):
        if text.startswith("${", i) or text.startswith("$[", i):
            opener, closer = text[i + 1], "}" if text[i + 1] == "{" else "]"
            depth, j = 1, i + 2
            while j < len(text) and depth:
                if text[j] == opener:
                    depth += 1
                elif text[j] == closer:
                    depth -= 1
                j += 1
            if literal_from < i:
                parts.append(text[literal_from:i])
            parts.append(_Expansion(opener == "{", _template(text[i + 2 : j - 1])))
            literal_from = i = j
        else:
            i += 1
    if literal_from < len(text):
        parts.append(text[literal_from:])
    return tuple(parts)


_FUNCTION_CALL = re.compile(r"([A-Z_]+)\((.*)\)", re.S)


def _variable(expr: str, lookup: Lookup) -> str:
    func = _FUNCTION_CALL.fullmatch(expr)
    if func:
        return _function(func.group(1), func.group(2), lookup)
    name, *rest = expr.split(":")
    value = lookup(name)
    if rest:
        offset = int(rest[0] or 0)
        length = int(rest[1]) if len(rest) > 1 and rest[1] else None
        start = offset if offset >= 0 else max(0, len(value) + offset)
        value = (
            value[start:] if length is None else value[start : start + length] if length >= 0 else value[start:length]
        )
    return value


def _function(name: str, args: str, lookup: Lookup) -> str:
    if name == "FILTER":
        allowed, _, value = args.partition(",")
        return "".join(c for c in value if _filter_allows(allowed, c))
    if name == "LEN":
        return str(len(args))
    if name == "CUT":
        # CUT(varname,delimiter,field): one field, counted from 1 (no ranges: Huibo uses none)
        variable, delimiter, field = (args.split(",", 2) + ["", ""])[:3]
        fields = _fields(lookup(variable.strip()), delimiter[:1] or "-")
        index = int(field) if field.strip().isdigit() else 0
        return fields[index - 1] if 0 < index <= len(fields) else ""
    if name == "FIELDQTY":
        # FIELDQTY(varname,delimiters): an empty variable has no fields, as in func_strings.c
        variable, _, delimiters = args.partition(",")
        return str(len(_fields(lookup(variable.strip()), delimiters or "-")))
    return ""


def _fields(value: str, delimiters: str) -> list[str]:
    """strsep() over ``value``: every character of ``delimiters`` separates; nothing at all is no field."""
    return re.split("[" + re.escape(delimiters) + "]", value) if value else []


def _filter_allows(spec: str, char: str) -> bool:
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            if spec[i] <= char <= spec[i + 2]:
                return True
            i += 3
        else:
            if spec[i] == char:
                return True
            i += 1
    return False


_TOKEN = re.compile(r'\s*("(?:[^"]*)"|>=|<=|!=|[=><&|()+-]|[^\s=><&|!()"+-]+)')


def evaluate(expr: str) -> str:
    """``$[...]``: comparisons, ``&``, ``|``, ``+``, ``-`` with ast_expr2's precedence; a comparison gives
    ``"1"`` or ``"0"``. A malformed expression gives ``""`` (Asterisk logs a syntax error and substitutes
    nothing)."""
    tokens = [t for t in _TOKEN.findall(expr)]
    if not tokens:
        return ""
    try:
        value, rest = _or(tokens)
    except (IndexError, ValueError):
        return ""
    if rest:
        return ""
    return value


def _unquote(token: str) -> str:
    return token[1:-1] if len(token) >= 2 and token[0] == token[-1] == '"' else token


def _or(tokens: list[str]) -> tuple[str, list[str]]:
    left, tokens = _and(tokens)
    while tokens and tokens[0] == "|":
        right, tokens = _and(tokens[1:])
        left = left if _truthy(left) else right
    return left, tokens


def _and(tokens: list[str]) -> tuple[str, list[str]]:
    left, tokens = _compare(tokens)
    while tokens and tokens[0] == "&":
        right, tokens = _compare(tokens[1:])
        left = left if _truthy(left) and _truthy(right) else "0"
    return left, tokens


def _compare(tokens: list[str]) -> tuple[str, list[str]]:
    left, tokens = _additive(tokens)
    if tokens and tokens[0] in ("=", "!=", ">", "<", ">=", "<="):
        op = tokens[0]
        right, tokens = _additive(tokens[1:])
        try:
            result = _ordered(op, float(left), float(right))  # both numbers: numeric comparison
        except ValueError:
            result = _ordered(op, left, right)  # otherwise as strings, as ast_expr does
        return ("1" if result else "0"), tokens
    return left, tokens


def _ordered(op: str, a: float | str, b: float | str) -> bool:
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if isinstance(a, float) and isinstance(b, float):
        x: tuple[float, str] = (a, "")
        y: tuple[float, str] = (b, "")
    else:
        x, y = (0.0, str(a)), (0.0, str(b))
    return {">": x > y, "<": x < y, ">=": x >= y, "<=": x <= y}[op]


def _additive(tokens: list[str]) -> tuple[str, list[str]]:
    left, tokens = _atom(tokens)
    while tokens and tokens[0] in ("+", "-"):
        op = tokens[0]
        right, tokens = _atom(tokens[1:])
        left = _arithmetic(left, right if op == "+" else _negate(right))
    return left, tokens


def _arithmetic(left: str, right: str) -> str:
    """op_plus(): a non-numeric operand is dropped (Asterisk warns), two of them give 0."""
    a, b = _number(left), _number(right)
    if a is None:
        return right if b is not None else "0"
    if b is None:
        return left
    return _format(a + b)


def _negate(value: str) -> str:
    number = _number(value)
    return value if number is None else _format(-number)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _format(number: float) -> str:
    # ast_expr2 prints its long doubles with %.18Lg: 3, not 3.0
    return f"{number:.18g}"


def _atom(tokens: list[str]) -> tuple[str, list[str]]:
    token = tokens[0]
    if token == "(":
        value, rest = _or(tokens[1:])
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced")
        return value, rest[1:]
    if token == "-":
        value, rest = _atom(tokens[1:])
        return _negate(value), rest
    if token in ("=", "!=", ">", "<", ">=", "<=", "&", "|", ")", "+"):
        raise ValueError("operand expected")
    return _unquote(token), tokens[1:]


def _truthy(value: str) -> bool:
    return value not in ("", "0")


# ---------------------------------------------------------------------------------------------------------
# The simulated trunk
# ---------------------------------------------------------------------------------------------------------

# Any number whose last four digits match no code: ring, answer, talk a minute (a demo visitor's real number).
DEFAULT_RING_SECONDS = 2
DEFAULT_TALK_SECONDS = 60


# A call looks its numbers up at every priority and every device state change: each number's steps are built once
# (enough entries for the numbers of a few thousand calls in flight).
@functools.lru_cache(maxsize=4096)
def outbound_phone(exten: str) -> tuple[Priority, ...] | None:
    """[huibo-outbound] in the simulator: the far end behaves as the ``[phones]`` code in its last four digits.

    ``…10XX`` talks XX s · ``…1100`` and ``…1300`` stay up · ``…1200`` answers and hangs up at once ·
    ``…2000`` busy · ``…3000`` never answers · ``…4000`` congestion · ``…06NN`` rings 1 s then hangs up with
    cause NN · anything else rings 2 s, answers and talks 60 s.
    """
    if not exten or not exten.isdigit():
        return None
    code = exten[-4:]
    label = f"huibo-outbound {exten}"

    def steps(*items: tuple[str, str]) -> tuple[Priority, ...]:
        return tuple(Priority(number=n, app=app, data=data) for n, (app, data) in enumerate(items, start=1))

    if re.fullmatch(r"10\d\d", code):
        talk = code[2:]
        return steps(
            ("NoOp", f"{label}: ring 1s, answer, talk {talk}s, hang up"),
            ("Ringing", ""),
            ("Wait", "1"),
            ("Answer", ""),
            ("Wait", talk),
            ("Hangup", "16"),
        )
    if code in ("1100", "1300"):
        return steps(
            ("NoOp", f"{label}: ring 1s, answer, stay up"),
            ("Ringing", ""),
            ("Wait", "1"),
            ("Answer", ""),
            ("Wait", "3600"),
            ("Hangup", "16"),
        )
    if code == "1200":
        return steps(("NoOp", f"{label}: answer and hang up immediately"), ("Answer", ""), ("Hangup", "16"))
    if code == "2000":
        return steps(("NoOp", f"{label}: busy"), ("Busy", "10"))
    if code == "3000":
        return steps(("NoOp", f"{label}: rings, never answers"), ("Ringing", ""), ("Wait", "120"), ("Hangup", "19"))
    if code == "4000":
        return steps(("NoOp", f"{label}: congestion"), ("Congestion", "10"))
    if re.fullmatch(r"06\d\d", code):
        return steps(
            ("NoOp", f"{label}: ring 1s then reject with cause {code[2:]}"),
            ("Ringing", ""),
            ("Wait", "1"),
            ("Hangup", code[2:]),
        )
    return steps(
        ("NoOp", f"{label}: ring {DEFAULT_RING_SECONDS}s, answer, talk {DEFAULT_TALK_SECONDS}s, hang up"),
        ("Ringing", ""),
        ("Wait", str(DEFAULT_RING_SECONDS)),
        ("Answer", ""),
        ("Wait", str(DEFAULT_TALK_SECONDS)),
        ("Hangup", "16"),
    )


def confirm_presses_key(number: str) -> bool:
    """Agent confirmation in the simulator: a phone whose last four digits are 1001..1099 presses 1."""
    return bool(re.fullmatch(r"10(0[1-9]|[1-9]\d)", number[-4:]))


def load(production_file: Path | None = PRODUCTION_EXTENSIONS) -> Mapping[str, Context]:
    """Every context the simulator knows: recorded ``[phones]``/``[callback]``, production ``[huibo-callback]``
    and ``[huibo-ringall]``, and the simulated trunk as ``[huibo-outbound]``."""
    contexts: dict[str, Context] = dict(parse(RECORDED_DIALPLAN))
    if production_file is not None and production_file.exists():
        production = parse(production_file.read_text(encoding="utf-8"), only={"huibo-callback", "huibo-ringall"})
        contexts.update(production)
    contexts["huibo-outbound"] = GeneratedContext("huibo-outbound", outbound_phone)
    return contexts
