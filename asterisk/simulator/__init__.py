"""Huibo's PBX simulator: an asyncio TCP server that speaks AMI as a real Asterisk 22 does.

It reproduces, event for event, the transcripts recorded from a real Asterisk (``shared/asterisk``): the
same events in a valid order with the same fields, Local channel halves, Linkedids, CDRs, the AMI session
rules (banner, Login, permission errors, event classes) and the failures (busy, no answer, congestion,
unallocated numbers, missing extensions, restarts). Beyond the recordings it dials several peers at once as
app_dial does (Huibo's simultaneous ring, ``[huibo-ringall]``). Production code must never special-case it.

Public API:

* :class:`Simulator` (async) and :class:`SimulatorThread` (sync): run it, ``.port``, the faults
  ``drop_connections()``, ``go_silent()``/``end_silence()``, ``restart()``, ``crash()``;
* :class:`ReplayServer`: serve a recorded transcript byte for byte;
* :class:`Interleaving`: replay a recording's interleaving of simultaneous events (fidelity tests);
* ``python -m asterisk.simulator``: the demo's simulated Asterisk.

Modules, each after the part of Asterisk it mirrors: ``session`` (manager.c sessions and actions),
``server`` (the process: listener, faults), ``users`` (manager.conf users and classes), ``pbx`` (channel
core, Local channels, hangups, restart), ``apps`` (pbx.c and the applications), ``dial`` (app_dial with one
peer or several, and the bridge), ``originate`` (Originate's outgoing thread), ``cdr``, ``bus`` (event
fan-out, device state), ``dialplan`` (extensions.conf, substitution), ``channels``, ``clock`` (simulated
time), ``protocol`` (framing), ``transcript``/``replay``/``interleaving`` (the recordings), ``runner`` and
``recording``.

The production contexts ``[huibo-callback]`` and ``[huibo-ringall]`` are read from
``asterisk/extensions.conf``. Numbers choose behaviours (``dialplan.py``): in ``[phones]`` exactly as
recorded; in ``[huibo-outbound]`` by the last four digits with the same codes, any other number ringing 2 s
and talking 60 s.
"""

from .interleaving import Interleaving
from .replay import ReplayServer
from .runner import Simulator, SimulatorThread
from .server import AmiServer
from .users import ALL_CLASSES, PRODUCTION_READ, PRODUCTION_WRITE, AmiUser

__all__ = [
    "ALL_CLASSES",
    "PRODUCTION_READ",
    "PRODUCTION_WRITE",
    "AmiServer",
    "AmiUser",
    "Interleaving",
    "ReplayServer",
    "Simulator",
    "SimulatorThread",
]
