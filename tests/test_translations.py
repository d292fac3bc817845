"""The zh-Hans translation: a complete catalogue, compiled, and the pages people read answer in Chinese."""

import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.template import engines
from django.templatetags.i18n import BlockTranslateNode, TranslateNode
from django.test import Client
from django.utils import translation

from billing.models import LedgerEntry
from callback.facts import Disposition
from callback.models import CallbackRequest
from callback.reasons import Reason, reason_text
from callback.statemachine import Status
from cdr.models import CallDetailRecord

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
CJK = re.compile(r"[\u4e00-\u9fff]")
# %(name)s, %s, %d, %% and {name}: whatever a translation drops or invents breaks the formatting at run time.
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sdfr]|%[sdfr]|%%|\{[a-z_0-9]+\}")


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0


def _unquote(text: str) -> str:
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    return re.sub(r"\\(.)", lambda match: escapes.get(match.group(1), match.group(0)), text[1:-1])


def parse_po(path: Path) -> list[Entry]:
    """A small reader for the .po files makemessages writes (obsolete #~ entries are skipped)."""
    entries: list[Entry] = []
    entry, target = Entry(), None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            if target is not None:
                entries.append(entry)
            entry, target = Entry(), None
            continue
        if line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            assert target is not None, f"{path}:{number}: a continuation line with nothing to continue"
            kind, index = target
            if kind == "msgstr":
                entry.msgstr[index] += _unquote(line)
            else:
                setattr(entry, kind, (getattr(entry, kind) or "") + _unquote(line))
            continue
        keyword, _, value = line.partition(" ")
        plural = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
        if plural or keyword == "msgstr":
            index = int(plural.group(1)) if plural else 0
            entry.msgstr[index] = _unquote(value)
            target = ("msgstr", index)
        elif keyword in ("msgid", "msgid_plural", "msgctxt"):
            if keyword == "msgid":
                entry.line = number
            setattr(entry, keyword, _unquote(value))
            target = (keyword, 0)
        else:
            raise AssertionError(f"{path}:{number}: unexpected line {raw!r}")
    if target is not None:
        entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def catalogue() -> list[Entry]:
    entries = parse_po(LC_MESSAGES / "django.po")
    assert entries and entries[0].msgid == "", "the .po starts with its header"
    return entries[1:]


def test_catalogue_has_every_string_translated_and_none_fuzzy(catalogue: list[Entry]) -> None:
    assert len(catalogue) > 500
    untranslated = [entry.msgid for entry in catalogue if not entry.msgstr or not all(entry.msgstr.values())]
    fuzzy = [entry.msgid for entry in catalogue if "fuzzy" in entry.flags]
    assert untranslated == []
    assert fuzzy == []


def test_header_is_final_and_has_chinese_plural_forms() -> None:
    header = parse_po(LC_MESSAGES / "django.po")[0]
    assert "fuzzy" not in header.flags
    assert "Plural-Forms: nplurals=1; plural=0;" in header.msgstr[0]
    assert "Language: zh_Hans" in header.msgstr[0]


def test_translations_keep_their_placeholders(catalogue: list[Entry]) -> None:
    broken = []
    for entry in catalogue:
        wanted = sorted(PLACEHOLDER.findall(entry.msgid_plural or entry.msgid))
        for msgstr in entry.msgstr.values():
            if sorted(PLACEHOLDER.findall(msgstr)) != wanted:
                broken.append((entry.msgid, msgstr))
    assert broken == []


def test_compiled_catalogue_matches_the_po(catalogue: list[Entry]) -> None:
    """The .mo is committed (CI may lack gettext at run time): it must be compiled from the .po as it is now."""
    with (LC_MESSAGES / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = []
    for entry in catalogue:
        if entry.msgid_plural is not None:
            if entry.msgctxt:
                got = compiled.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, 1)
            else:
                got = compiled.ngettext(entry.msgid, entry.msgid_plural, 1)
        elif entry.msgctxt:
            got = compiled.pgettext(entry.msgctxt, entry.msgid)
        else:
            got = compiled.gettext(entry.msgid)
        if got != entry.msgstr[0]:
            stale.append(entry.msgid)
    assert stale == [], "run: manage.py compilemessages --ignore=.venv"


def _template_msgids() -> dict[str, set[tuple[str | None, str]]]:
    """What each of our templates asks gettext for at run time, exactly as Django's i18n tags compute it."""
    engine = engines["django"].engine  # type: ignore[attr-defined]
    base = Path(settings.BASE_DIR)
    found: dict[str, set[tuple[str | None, str]]] = {}
    for root in [base / "templates", *base.glob("*/templates")]:
        for path in root.rglob("*.html"):
            name = path.relative_to(root).as_posix()
            nodelist = engine.from_string(path.read_text(encoding="utf-8")).nodelist
            msgids = found.setdefault(name, set())
            for node in nodelist.get_nodes_by_type(TranslateNode):
                literal = node.filter_expression.var.literal
                if isinstance(literal, str) and not node.noop:
                    context = node.message_context.var.literal if node.message_context else None
                    msgids.add((context, literal.replace("%", "%%")))
            for node in nodelist.get_nodes_by_type(BlockTranslateNode):
                context = node.message_context.var.literal if node.message_context else None
                msgids.add((context, node.render_token_list(node.singular)[0]))
    return found


def test_every_string_the_templates_translate_is_in_the_catalogue(catalogue: list[Entry]) -> None:
    """Catches a template string makemessages cannot extract as Django looks it up, or a run of it forgotten."""
    known = {(entry.msgctxt, entry.msgid) for entry in catalogue}
    found = _template_msgids()
    assert sum(len(msgids) for msgids in found.values()) > 300
    missing = {name: sorted(msgid for msgid in msgids if msgid not in known) for name, msgids in found.items()}
    assert {name: msgids for name, msgids in missing.items() if msgids} == {}


def test_every_reason_reads_in_chinese() -> None:
    for reason in Reason:
        with translation.override("en"):
            english = reason_text(reason.value)
        with translation.override("zh-hans"):
            chinese = reason_text(reason.value)
        assert CJK.search(chinese), (reason, chinese)
        assert chinese != english


def test_every_request_status_and_leg_disposition_reads_in_chinese() -> None:
    with translation.override("zh-hans"):
        statuses = {status: CallbackRequest(status=status).status_display for status in Status}
        dispositions = {code: CallDetailRecord(disposition=code).disposition_display for code in Disposition}
    assert [status for status, text in statuses.items() if not CJK.search(text)] == []
    assert [code for code, text in dispositions.items() if not CJK.search(text)] == []


def test_ledger_reasons_huibo_writes_read_in_the_readers_language() -> None:
    entry = LedgerEntry(reason="call charge")
    with translation.override("zh-hans"):
        assert entry.reason_display == "通话费"
        assert LedgerEntry(reason="Top-up by bank transfer 2026-01").reason_display == "Top-up by bank transfer 2026-01"
    assert entry.reason_display == "call charge"


def _page(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    body = response.content.decode()
    assert '<html lang="zh-hans">' in body
    return body


@pytest.mark.django_db
def test_login_page_in_chinese(client: Client) -> None:
    page = _page(client, "/zh-hans/portal/login/")
    assert "登录企业管理平台" in page
    assert "Log in to your enterprise portal" not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "chinese", "english"),
    [
        (
            "/zh-hans/portal/",
            ["概览", "来电如何接入", "振铃策略", "顺序呼叫", "正常", "星期一"],
            ["How calls reach you", "Sequential", "Monday"],
        ),
        (
            "/zh-hans/portal/numbers/",
            ["绑定号码", "添加绑定号码", "振铃超时（秒）", "编辑"],
            ["Add a bound number", "Ring timeout"],
        ),
        (
            "/zh-hans/portal/hours/",
            ["工作时间", "保存工作时间", "添加节假日", "星期日"],
            ["Save working hours", "Add holiday", "Sunday"],
        ),
    ],
)
def test_enterprise_admin_pages_in_chinese(
    client: Client, enterprise_admin: User, path: str, chinese: list[str], english: list[str]
) -> None:
    client.force_login(enterprise_admin)
    page = _page(client, path)
    for text in chinese:
        assert text in page, text
    for text in english:
        assert text not in page, text
    # The navigation every portal page shares.
    for text in ("话单", "录音", "余额", "发票", "退出登录"):
        assert text in page, text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("page", "language", "lands_on"),
    [
        ("/zh-hans/portal/numbers/", "en", "/portal/numbers/"),
        ("/portal/numbers/", "zh-hans", "/zh-hans/portal/numbers/"),
    ],
)
def test_the_language_switcher_goes_both_ways(
    client: Client, enterprise_admin: User, page: str, language: str, lands_on: str
) -> None:
    client.force_login(enterprise_admin)
    form = re.search(r'name="next" type="hidden" value="([^"]*)"', client.get(page).content.decode())
    assert form is not None
    switched = client.post("/i18n/setlang/", {"language": language, "next": form.group(1)})
    assert (switched.status_code, switched["Location"]) == (302, lands_on)


@pytest.mark.django_db
def test_the_administration_names_every_app_and_model_in_chinese(admin_client: Client) -> None:
    page = admin_client.get("/zh-hans/admin/").content.decode()
    for text in ("回拨平台管理", "计费", "回拨", "话单", "企业", "欺诈告警", "话路", "录音设置"):
        assert text in page, text
    for text in (">Billing<", ">Callback<", ">Cdr<", ">Tenants<", "Fraud alerts", "Call legs", "Recording settings"):
        assert text not in page, text


@pytest.mark.django_db
def test_a_chinese_browser_gets_the_chinese_pages_until_the_reader_chooses_another_language(client: Client) -> None:
    chinese_browser = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
    first = client.get("/portal/login/?next=/portal/", **chinese_browser)
    assert (first.status_code, first["Location"]) == (302, "/zh-hans/portal/login/?next=/portal/")
    assert "登录" in client.get(first["Location"], **chinese_browser).content.decode()
    # an English browser, and a reader who chose English in the switcher, stay on the English address
    assert client.get("/portal/login/", HTTP_ACCEPT_LANGUAGE="en-US,en").status_code == 200
    client.post("/i18n/setlang/", {"language": "en", "next": "/portal/login/"}, **chinese_browser)
    assert client.get("/portal/login/", **chinese_browser).status_code == 200
    # the widget's public API is not a page: never redirected
    assert client.get("/api/widget/v1/no-such-key/config", **chinese_browser).status_code == 404
