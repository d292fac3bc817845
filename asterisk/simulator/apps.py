"""Dialplan execution, as pbx.c runs it on a channel's own thread: substitute the priority's data, publish
Newexten, run the application (NoOp, Ringing, Wait, Answer, Hangup, Busy, Congestion, Set, ExecIf, GotoIf,
Goto, Playback, Read, Dial), go on to the next priority or stop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import dialplan
from .channels import STATE_UP, Channel
from .clock import Timer

if TYPE_CHECKING:
    from .pbx import Pbx

log = logging.getLogger(__name__)

# What an application tells the dialplan loop (a jump sets the priority itself).
CONTINUE, BLOCK, STOP, JUMP = "continue", "block", "stop", "jump"

# Answer() waits up to 500 ms for the first media frame before the dialplan moves on. The originated
# first leg gets media from its ;1 within ~20 ms; a dialled leg waits the whole 500 ms (recordings: the
# priority after Answer() runs at +0.02 s and +0.5 s respectively).
MEDIA_WAIT_FIRST_LEG = 0.02
MEDIA_WAIT_OTHER = 0.5
# Simulated length of any Playback() and the time a confirming phone takes to press its key.
PLAYBACK_SECONDS = 1.0
KEYPRESS_SECONDS = 1.0


# Variables pbx.c reads off the channel itself rather than its variable list.
_SPECIAL_VARIABLES: dict[str, Callable[[Channel], str]] = {
    "EXTEN": lambda chan: chan.exten,
    "CONTEXT": lambda chan: chan.context,
    "PRIORITY": lambda chan: str(chan.priority),
    "CHANNEL": lambda chan: chan.name,
    "UNIQUEID": lambda chan: chan.uniqueid,
    "HANGUPCAUSE": lambda chan: str(chan.hangup_cause),
}


class PbxThread:
    """One channel running dialplan from its context/exten/priority."""

    emits_soft_hangup = True

    def __init__(self, pbx: Pbx, chan: Channel) -> None:
        self.pbx = pbx
        self.chan = chan
        self.timer: Timer | None = None
        self.finished = False
        self.on_interrupt: Callable[[], None] | None = None
        # the priorities of the extension the channel is in, by number (looked up again after a Goto)
        self._extension: tuple[str, str] | None = None
        self._priorities: dict[int, dialplan.Priority] = {}

    def lookup(self, name: str) -> str:
        special = _SPECIAL_VARIABLES.get(name)
        return special(self.chan) if special is not None else self.chan.getvar(name)

    def run(self) -> None:
        chan = self.chan
        pbx = self.pbx
        while not self.finished:
            if not chan.alive:
                return
            prio = self._priority()
            if prio is None:
                self.end()  # autofallthrough: off the end of the extension means hang up
                return
            data = dialplan.substitute(prio.data, self.lookup)
            pbx.newexten(chan, prio.app, data)
            result = self.execute(prio.app, data)
            if result == BLOCK:
                return
            if result == STOP:
                self.end()
                return
            if result == CONTINUE:
                chan.priority += 1
            # else: a jump already set chan.priority

    def _priority(self) -> dialplan.Priority | None:
        chan = self.chan
        extension = (chan.context, chan.exten)
        if extension != self._extension:
            self._extension = extension
            # reversed: of two priorities with one number the first wins
            self._priorities = {p.number: p for p in reversed(self.pbx.contexts_lookup(*extension) or [])}
        return self._priorities.get(chan.priority)

    def resume(self) -> None:
        self.timer = None
        self.on_interrupt = None
        self.chan.priority += 1
        self.run()

    def wait(self, seconds: float, then: Callable[[], None] | None = None) -> str:
        self.timer = self.pbx.later(seconds, then or self.resume)
        return BLOCK

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def on_hangup_request(self) -> None:
        if self.finished:
            return
        self.cancel_timer()
        if self.on_interrupt is not None:
            self.on_interrupt()
        self.end()

    def end(self) -> None:
        """The dialplan stopped: the channel is hung up by its own thread."""
        if self.finished:
            return
        self.finished = True
        self.cancel_timer()
        if not self.chan.alive:
            return
        if self.emits_soft_hangup:
            self.pbx.soft_hangup(self.chan)
        self.pbx.hangup(self.chan)

    def jump(self, target: str) -> bool:
        """Goto within this extension (a label or a priority number)."""
        priorities = self.pbx.contexts_lookup(self.chan.context, self.chan.exten) or []
        for prio in priorities:
            if prio.label == target or str(prio.number) == target:
                self.chan.priority = prio.number
                return True
        return False

    # -- applications ---------------------------------------------------------------------------------

    def execute(self, app: str, data: str) -> str:
        handler = getattr(self, "app_" + app.lower(), None)
        if handler is None:
            log.warning("simulator.dialplan.unknown_app app=%s channel=%s", app, self.chan.name)
            return CONTINUE
        result: str = handler(data)
        return result

    def app_mixmonitor(self, data: str) -> str:
        """MixMonitor(): the simulator writes the recording when the call is bridged (Pbx.maybe_record)."""
        self.chan.mixmonitor = True
        return CONTINUE

    def app_noop(self, data: str) -> str:
        return CONTINUE

    def app_ringing(self, data: str) -> str:
        self.pbx.indicate_ringing(self.chan)
        return CONTINUE

    def app_wait(self, data: str) -> str:
        return self.wait(number(data))

    def app_answer(self, data: str) -> str:
        chan = self.chan
        if chan.state == STATE_UP:
            return CONTINUE
        self.pbx.answer(chan)
        peer = chan.peer
        first_leg = peer is not None and peer.name in self.pbx.originated
        return self.wait(MEDIA_WAIT_FIRST_LEG if first_leg else MEDIA_WAIT_OTHER)

    def app_hangup(self, data: str) -> str:
        cause = int(data) if data.strip().isdigit() else 0
        self.chan.hangup_cause = cause or self.chan.hangup_cause or 16
        return STOP

    def app_busy(self, data: str) -> str:
        return self._refuse(data, congestion=False)

    def app_congestion(self, data: str) -> str:
        return self._refuse(data, congestion=True)

    def _refuse(self, data: str, congestion: bool) -> str:
        if self.chan.pair is not None and self.chan.half == 2:
            self.pbx.local_busy(self.chan, congestion)
        else:
            self.chan.hangup_cause = 34 if congestion else 17
        return self.wait(number(data) if data else 0, self.end)

    def app_set(self, data: str) -> str:
        name, _, value = data.partition("=")
        name = name.strip()
        if name.upper() == "TIMEOUT(ABSOLUTE)":
            seconds = number(value)
            if seconds > 0:
                self.pbx.later(seconds, self._absolute_timeout)
            return CONTINUE
        if "(" in name:
            return CONTINUE  # other dialplan functions are not simulated
        self.pbx.set_var(self.chan, name, value)
        return CONTINUE

    def _absolute_timeout(self) -> None:
        """TIMEOUT(absolute) expired: the channel is hung up as if it had asked to (no HangupRequest)."""
        if self.finished or not self.chan.alive:
            return
        self.chan.hangup_cause = self.chan.hangup_cause or 16
        self.pbx._react_to_hangup(self.chan)

    def app_execif(self, data: str) -> str:
        condition, _, rest = data.partition("?")
        if_true, if_false = _split_branches(rest)
        chosen = if_true if _truthy(condition) else if_false
        if not chosen:
            return CONTINUE
        app, _, args = chosen.partition("(")
        return self.execute(app.strip(), args[:-1] if args.endswith(")") else args)

    def app_gotoif(self, data: str) -> str:
        condition, _, rest = data.partition("?")
        if_true, if_false = _split_branches(rest)
        target = if_true if _truthy(condition) else if_false
        if target and self.jump(target.split(",")[-1].strip()):
            return JUMP
        return CONTINUE

    def app_goto(self, data: str) -> str:
        parts = [p.strip() for p in data.split(",")]
        if len(parts) == 3:
            self.chan.context, self.chan.exten = parts[0], parts[1]
            self.chan.priority = int(parts[2]) if parts[2].isdigit() else 1
            return JUMP
        if len(parts) == 2:
            self.chan.exten = parts[0]
            self.chan.priority = int(parts[1]) if parts[1].isdigit() else 1
            return JUMP
        return JUMP if self.jump(parts[0]) else CONTINUE

    def app_playback(self, data: str) -> str:
        def done() -> None:
            self.pbx.set_var(self.chan, "PLAYBACKSTATUS", "SUCCESS")
            self.resume()

        return self.wait(PLAYBACK_SECONDS, done)

    def app_read(self, data: str) -> str:
        args = (data.split(",") + [""] * 6)[:6]
        variable, timeout = args[0].strip(), number(args[5]) if args[5].strip() else 5.0
        # Read(var,prompt,…): the prompt plays first, and the timeout runs from its end
        prompt_seconds = PLAYBACK_SECONDS if args[1].strip() else 0.0
        peer = self.chan.peer
        presses = peer is not None and dialplan.confirm_presses_key(peer.exten)

        def done(digits: str, status: str) -> None:
            self.pbx.set_var(self.chan, variable, digits)
            self.pbx.set_var(self.chan, "READSTATUS", status)
            self.resume()

        if presses:
            return self.wait(prompt_seconds + min(KEYPRESS_SECONDS, timeout), lambda: done("1", "OK"))
        return self.wait(prompt_seconds + timeout, lambda: done("", "TIMEOUT"))

    def app_dial(self, data: str) -> str:
        from .dial import Dialer

        return Dialer(self.pbx, self, data).start()


class AppThread(PbxThread):
    """An Originate with ``Application``: the answered ;1 runs that one application, then is hung up
    directly by the outgoing thread (no Newexten, no SoftHangupRequest: transcript 11)."""

    emits_soft_hangup = False

    def __init__(self, pbx: Pbx, chan: Channel, app: str, data: str) -> None:
        super().__init__(pbx, chan)
        self.app = app
        self.data = data

    def run(self) -> None:
        self.chan.app, self.chan.app_data = self.app, self.data
        result = self.execute(self.app, self.data)
        if result != BLOCK:
            self.end()

    def resume(self) -> None:
        self.timer = None
        self.end()


def number(text: str) -> float:
    """A dialplan argument as seconds (empty or malformed: 0)."""
    try:
        return float(text.strip() or 0)
    except ValueError:
        return 0.0


def _truthy(value: str) -> bool:
    return value.strip() not in ("", "0")


def _split_branches(text: str) -> tuple[str, str]:
    """``a(x):b(y)`` -> (``a(x)``, ``b(y)``), ignoring colons inside parentheses."""
    depth = 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == ":" and depth == 0:
            return text[:i], text[i + 1 :]
    return text, ""
