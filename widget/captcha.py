"""One-time captchas (RELIABILITY.md S6): django-simple-captcha's challenges and pictures, kept in the store.

A captcha lives at most ``WIDGET_CAPTCHA_TTL_SECONDS`` (≤ 5 min) and is consumed by the first answer given for
it, right or wrong (an atomic GETDEL), so it can neither be replayed nor guessed at twice. The picture is
drawn by django-simple-captcha from the stored challenge; audio is offered when flite is configured.

Test mode accepts the answer ``PASSED`` for any live captcha (it is still single use). It takes effect only
with DEBUG on or under tests, and the ``widget.E001`` system check refuses a deployment that turns it on.
"""

import json
import random
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from captcha.conf import settings as captcha_settings
from captcha.views import _captcha_image
from django.conf import settings

from widget.store import get_store, key

TEST_MODE_ANSWER = "PASSED"


@dataclass(frozen=True)
class Captcha:
    key: str
    ttl_seconds: int


def running_tests() -> bool:
    return "pytest" in sys.modules or sys.argv[1:2] == ["test"]


def test_mode_active() -> bool:
    """Test mode only where it can do no harm: a developer's DEBUG server or a test run."""
    return bool(settings.WIDGET_CAPTCHA_TEST_MODE) and (settings.DEBUG or running_tests())


def captcha_create() -> Captcha:
    challenge, response = captcha_settings.get_challenge()()
    captcha_key = secrets.token_hex(20)
    ttl = int(settings.WIDGET_CAPTCHA_TTL_SECONDS)
    get_store().put(key("captcha", captcha_key), json.dumps([challenge, response]), ttl_seconds=ttl)
    return Captcha(key=captcha_key, ttl_seconds=ttl)


def captcha_consume(*, captcha_key: str, answer: str) -> bool:
    """True when ``answer`` solves the live captcha ``captcha_key``; the captcha is gone afterwards either way."""
    if not captcha_key or len(captcha_key) != 40 or not all(c in "0123456789abcdef" for c in captcha_key):
        return False
    stored = get_store().take(key("captcha", captcha_key))
    if stored is None:
        return False
    _challenge, response = json.loads(stored)
    given = answer.strip().lower()
    if test_mode_active() and given == TEST_MODE_ANSWER.lower():
        return True
    return secrets.compare_digest(given.encode(), str(response).lower().encode())


def _challenge_of(captcha_key: str) -> str | None:
    if len(captcha_key) != 40:
        return None
    stored = get_store().peek(key("captcha", captcha_key))
    return json.loads(stored)[0] if stored is not None else None


def captcha_image_png(*, captcha_key: str, scale: int = 1) -> tuple[bytes, str] | None:
    """The picture of a live captcha (bytes, content type), the same on every request; None once it is gone."""
    challenge = _challenge_of(captcha_key)
    if challenge is None:
        return None
    try:
        # Seeded by the key so a refresh of the same picture shows the same noise (as the library does).
        random.seed(captcha_key)
        response = _captcha_image(SimpleNamespace(challenge=challenge), scale)
    finally:
        random.seed()
    return response.content, response["Content-Type"]


def audio_available() -> bool:
    return bool(settings.WIDGET_CAPTCHA_FLITE_PATH)


def captcha_audio_wav(*, captcha_key: str) -> bytes | None:
    """The challenge spelt out by flite, when flite is configured and the captcha is live."""
    challenge = _challenge_of(captcha_key)
    if challenge is None or not audio_available():
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "captcha.wav"
        spelt = ", ".join(challenge)
        subprocess.run(  # noqa: S603 - fixed program from the settings, the text is our own challenge
            [settings.WIDGET_CAPTCHA_FLITE_PATH, "-t", spelt, "-o", str(path)], check=False, timeout=10
        )
        return path.read_bytes() if path.is_file() else None
