"""The real Asterisk 22 transcripts in ../shared/asterisk/transcripts, parsed as the listener parses them."""

import os
from pathlib import Path

from callback.ami import AmiMessage, parse_messages

SHARED = Path(os.environ.get("HUIBO_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
TRANSCRIPTS = SHARED / "asterisk" / "transcripts"


def transcript_messages(name: str) -> list[AmiMessage]:
    messages, rest = parse_messages((TRANSCRIPTS / f"{name}.ami.raw").read_bytes())
    assert rest == b""
    return messages
