"""A stand-in for MixMonitor: when a caller that ran MixMonitor (``[huibo-callback]`` with ``HUIBO_RECORD=1``)
is bridged, a short real WAV file (8 kHz mono, 16-bit, a quiet 440 Hz tone) is written to the recordings
directory, named after the call's Linkedid, so the recording pipeline can be built before a real Asterisk
records."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 8000


def write_recording(path: Path, seconds: float = 1.0, frequency: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(RATE * seconds)
    samples = (int(3000 * math.sin(2 * math.pi * frequency * n / RATE)) for n in range(frames))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path
