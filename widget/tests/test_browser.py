"""A real browser on a page of another website: the snippet, the form, the captcha and the live status until the
call is over, with the whole engine behind it (tests/conftest.py: Celery worker on the real Redis broker, the
AMI listener, the PBX simulator over TCP).

Debian's Chromium driven by Playwright, headless. The page is served from its own origin (127.0.0.1 on a port of
its own); the widget and its API come from Django's live server (localhost on another port), so every call is
cross-origin and goes through the allowed-origins check. The captcha is solved through the test-only setting
(``WIDGET_CAPTCHA_TEST_MODE``: the answer ``PASSED``). A screenshot of every state the widget shows is saved in
test-output/widget-browser/.

The story: the bound number (…1100) answers and stays up; the visitor (…1012) answers after 1 s and talks 12 s
(a quarter of real time here), then hangs up: calling our team → calling you → connected → completed.
"""

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as dt_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from asterisk.simulator import SimulatorThread
from callback.models import CallbackRequest
from conftest import make_enterprise
from tenants import services as tenant_services
from tests.conftest import SECRET, Engine, engine  # noqa: F401  (the end-to-end engine fixture)
from widget import services

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "widget-browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed: apt-get install chromium"),
    pytest.mark.timeout(180),
]


@pytest.fixture
def pbx() -> Iterator[SimulatorThread]:
    """The simulator at a quarter of real time: slow enough for a person's eye (and a 100 ms poll) to see
    each state, fast enough for a test."""
    with SimulatorThread(time_scale=0.25, secret=SECRET, keep_history=True) as simulator:
        yield simulator


@pytest.fixture
def host_page() -> Iterator[dict[str, Any]]:
    """Another website: one page that embeds the snippet it is given."""
    page: dict[str, Any] = {"html": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = page["html"]
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="host-page", daemon=True)
    thread.start()
    page["origin"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield page
    finally:
        server.shutdown()
        server.server_close()


def test_a_visitor_on_another_site_is_called_back_and_follows_the_call_to_its_end(
    engine: Engine,  # noqa: F811
    live_server: Any,
    host_page: dict[str, Any],
    settings: Any,
) -> None:
    from playwright.sync_api import sync_playwright

    # given: the enterprise's widget allowed on the other site, and that site's page with the snippet
    settings.WIDGET_CAPTCHA_TEST_MODE = True
    settings.WIDGET_STATUS_POLL_MS = 100
    enterprise = make_enterprise("browser", numbers=("+8613800001100",))
    services.widget_settings_update(enterprise=enterprise, allowed_origins=[host_page["origin"]], language="en")
    snippet = f'<script src="{live_server.url}/widget/{enterprise.public_key}.js" async></script>'
    host_page["html"] = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Shop</title>"
        "<style>* { font: 40px serif !important; color: red !important; }</style></head>"
        f"<body><h1>A shop that wants calls</h1>{snippet}</body></html>"
    ).encode()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT.glob("*.png"):
        old.unlink()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 760}, locale="en-US")
            page.set_default_timeout(15_000)
            page.goto(f"{host_page['origin']}/pricing?utm_source=browser-test&utm_campaign=e2e")
            # when: the visitor opens the widget, types a number and the captcha, and presses Call
            launcher = page.locator("#huibo-open")
            launcher.wait_for()
            page.screenshot(path=OUTPUT / "01-launcher.png")
            launcher.click()
            page.locator("#huibo-panel").wait_for(state="visible")
            assert page.evaluate("document.querySelector('#huibo-callback').shadowRoot.activeElement.id") == (
                "huibo-phone"
            )
            assert page.locator("#huibo-captcha-image").evaluate("img => img.naturalWidth") > 0 or _image_loads(page)
            page.locator("#huibo-country").select_option("CN")
            page.locator("#huibo-phone").fill("139 0000 1012")
            page.locator("#huibo-captcha").fill("PASSED")
            page.screenshot(path=OUTPUT / "02-form-filled.png")
            page.locator("#huibo-call").click()
            # then: the widget shows each state the engine goes through, until the call is over
            phases = _follow(page, until="completed", timeout=60)
        finally:
            browser.close()

    assert "connected" in phases and phases[-1] == "completed", phases
    assert phases.index("connected") < phases.index("completed")
    assert set(phases) <= {"calling_team", "calling_you", "connected", "completed"}, phases
    request = CallbackRequest.objects.get(enterprise=enterprise)
    assert (request.status, request.reason_code, request.visitor_number) == (
        "completed",
        "visitor_hung_up",
        "+8613900001012",
    )
    lead = request.widget_lead
    assert (lead.utm_source, lead.utm_campaign) == ("browser-test", "e2e")
    assert lead.page_url.startswith(host_page["origin"])
    assert sorted(path.name for path in OUTPUT.glob("*.png"))[-1].endswith("-completed.png")


def _image_loads(page: Any) -> bool:
    page.wait_for_function(
        "document.querySelector('#huibo-callback').shadowRoot.querySelector('#huibo-captcha-image').naturalWidth > 0"
    )
    return True


def _follow(page: Any, *, until: str, timeout: float) -> list[str]:
    """Every phase the widget shows, in order, with a screenshot and the words the visitor reads for each."""
    phases: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = page.evaluate("document.querySelector('#huibo-callback').getAttribute('data-phase')")
        if phase and (not phases or phases[-1] != phase):
            phases.append(phase)
            text = page.locator("#huibo-status").inner_text()
            assert text, phase
            page.screenshot(path=OUTPUT / f"{len(phases) + 2:02d}-{phase}.png")
            if phase == until:
                assert text == "Call ended. Thank you!"
                return phases
        time.sleep(0.03)
    raise AssertionError(f"the widget never showed {until}: {phases}")


def test_the_widget_works_by_keyboard_and_fits_a_phone(live_server: Any, host_page: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    # given
    enterprise = make_enterprise("phone", numbers=("+8613800001100",))
    services.widget_settings_update(enterprise=enterprise, allowed_origins=[host_page["origin"]], language="zh-hans")
    host_page["html"] = (
        "<!doctype html><html><head><meta name='viewport' content='width=device-width'></head><body>"
        f'<p>店铺</p><script src="{live_server.url}/widget/{enterprise.public_key}.js" async></script></body></html>'
    ).encode()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
            page.set_default_timeout(15_000)
            page.goto(host_page["origin"])
            page.locator("#huibo-open").wait_for()
            # when: the visitor opens it with the keyboard
            page.locator("#huibo-open").focus()
            page.keyboard.press("Enter")
            page.locator("#huibo-panel").wait_for(state="visible")
            focused = "document.querySelector('#huibo-callback').shadowRoot.activeElement.id"
            # then: the phone field has the focus, the words are Chinese, and the panel fits the screen
            assert page.evaluate(focused) == "huibo-phone"
            assert page.locator("#huibo-title").inner_text() == "免费回拨"
            box = page.locator("#huibo-panel").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
            assert page.locator("#huibo-phone").evaluate("e => getComputedStyle(e).fontSize") == "16px"
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")
            assert page.evaluate(focused) in ("huibo-refresh", "huibo-captcha")
            page.screenshot(path=OUTPUT / "phone-form.png")
            # and Escape closes it and gives the focus back to the button
            page.keyboard.press("Escape")
            page.locator("#huibo-panel").wait_for(state="hidden")
            assert page.evaluate(focused) == "huibo-open"
        finally:
            browser.close()


def test_when_closed_the_visitor_picks_a_time_by_keyboard_and_is_told_when_we_call(
    live_server: Any, host_page: dict[str, Any], settings: Any
) -> None:
    from playwright.sync_api import sync_playwright

    # given: an enterprise closed now, open 09:00-18:00 (Shanghai) three days from now; a Chinese widget
    settings.WIDGET_CAPTCHA_TEST_MODE = True
    settings.WIDGET_STATUS_POLL_MS = 100
    enterprise = make_enterprise("closed", numbers=("+8613800001100",))
    weekday = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=3)).weekday()
    tenant_services.working_hours_replace(
        enterprise=enterprise, intervals=[tenant_services.OpeningInterval(weekday, dt_time(9), dt_time(18))]
    )
    services.widget_settings_update(enterprise=enterprise, allowed_origins=[host_page["origin"]], language="zh-hans")
    host_page["html"] = (
        f'<!doctype html><html><body><script src="{live_server.url}/widget/{enterprise.public_key}.js" async>'
        "</script></body></html>"
    ).encode()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(timezone_id="Europe/London")  # the visitor's clock is not the enterprise's
            page.set_default_timeout(15_000)
            page.goto(host_page["origin"])
            page.locator("#huibo-open").click()
            # when: the visitor moves from the first offered time to the second with the arrow key, and calls
            first = page.locator("#huibo-slot-0")
            assert first.is_checked() and page.locator("#huibo-slots legend").inner_text().startswith(
                "现在不是工作时间"
            )
            first.focus()
            page.keyboard.press("ArrowDown")
            second = page.locator("label[for=huibo-slot-1]").inner_text()
            assert page.locator("#huibo-slot-1").is_checked() and "10:00" in second
            assert page.locator("#huibo-call").inner_text() == f"请在 {second} 给我回电"
            page.screenshot(path=OUTPUT / "closed-pick-time.png")
            page.locator("#huibo-phone").fill("139 0000 1012")
            page.locator("#huibo-captcha").fill("PASSED")
            page.locator("#huibo-call").click()
            # then: the status says when, in the enterprise's time, and the request waits for that time
            page.locator("#huibo-status[data-phase=scheduled]").wait_for()
            assert page.locator("#huibo-status").inner_text() == f"我们将在 {second} 给您回电"
            page.screenshot(path=OUTPUT / "closed-scheduled.png")
        finally:
            browser.close()
    request = CallbackRequest.objects.get(enterprise=enterprise)
    assert (request.status, request.due_at.astimezone(ZoneInfo("Asia/Shanghai")).hour) == ("scheduled", 10)


def test_the_portal_previews_the_widget_live_as_the_admin_types(live_server: Any, django_user_model: Any) -> None:
    from django.test import Client
    from playwright.sync_api import sync_playwright

    from tenants.models import Membership

    # given: an enterprise admin, logged in
    enterprise = make_enterprise("preview", numbers=("+8613800001100",))
    user = django_user_model.objects.create_user("preview-admin", password="pw-preview-1")
    Membership.objects.create(user=user, enterprise=enterprise, role=Membership.Role.ADMIN)
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
            context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{live_server.url}/portal/widget/")
            # when: the preview is there and the admin types a title and picks a colour
            page.locator("#huibo-open").wait_for()
            page.fill("#id_title", "Talk to sales")
            page.locator("#id_primary_color").evaluate(
                "e => { e.value = '#1155cc'; e.dispatchEvent(new Event('input', {bubbles: true})); }"
            )
            # then: the preview shows them at once, before anything is saved
            page.wait_for_function(
                "document.querySelector('#huibo-callback').shadowRoot.querySelector('#huibo-open')"
                ".textContent === 'Talk to sales'"
            )
            colour = page.locator("#huibo-open").evaluate("e => getComputedStyle(e).backgroundColor")
            assert colour == "rgb(17, 85, 204)"
            page.locator("#huibo-open").click()
            page.locator("#huibo-call").click()
            assert page.locator("#huibo-error").inner_text() == "Please enter your phone number."
            page.screenshot(path=OUTPUT / "portal-preview.png")
            # and the snippet can be copied
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
            page.click("#widget-copy")
            page.wait_for_function("document.getElementById('widget-copy-status').textContent !== ''")
        finally:
            browser.close()
