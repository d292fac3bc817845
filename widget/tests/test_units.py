"""The widget's plain parts: the store's two implementations agree, origins, the script's size."""

import gzip
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from widget.origins import InvalidOrigin, origin_allowed, origin_normalize
from widget.store import AbuseStore, Counter, LocalStore, get_store, key

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "widget" / "widget.js"


@pytest.fixture(params=["redis", "local"])
def store(request: pytest.FixtureRequest) -> AbuseStore:
    return get_store() if request.param == "redis" else LocalStore()


def test_a_sliding_window_frees_room_as_it_slides(store: AbuseStore) -> None:
    counter = lambda token: Counter(key("w"), 2, 1000, token)  # noqa: E731
    assert store.admit([counter("a")], now_ms=10_000).admitted
    assert store.admit([counter("b")], now_ms=10_500).admitted
    assert not store.admit([counter("c")], now_ms=10_999).admitted
    assert store.admit([counter("d")], now_ms=11_001).admitted  # "a" left the window


def test_a_refusal_by_one_counter_counts_in_none(store: AbuseStore) -> None:
    roomy, full = key("roomy"), key("full")
    store.admit([Counter(full, 1, 60_000, "x")], now_ms=1)
    result = store.admit([Counter(roomy, 5, 60_000, "y"), Counter(full, 1, 60_000, "y")], now_ms=2)
    assert (result.admitted, result.refused_by, result.count) == (False, 1, 1)
    assert store.admit([Counter(roomy, 1, 60_000, "z")], now_ms=3).admitted  # "y" was not counted in roomy


def test_distinct_members_already_counted_always_pass(store: AbuseStore) -> None:
    numbers = key("numbers")
    assert store.admit([Counter(numbers, 1, 60_000, "+861", distinct=True)], now_ms=1).admitted
    assert store.admit([Counter(numbers, 1, 60_000, "+861", distinct=True)], now_ms=2).admitted
    assert not store.admit([Counter(numbers, 1, 60_000, "+862", distinct=True)], now_ms=3).admitted


def test_a_refund_gives_the_room_back(store: AbuseStore) -> None:
    counters = [Counter(key("r"), 1, 60_000, "t1")]
    assert store.admit(counters, now_ms=1).admitted
    store.refund(counters)
    assert store.admit([Counter(key("r"), 1, 60_000, "t2")], now_ms=2).admitted


def test_exactly_one_of_many_concurrent_strikes_sees_the_threshold(store: AbuseStore) -> None:
    start = threading.Barrier(50)

    def one(index: int) -> int:
        start.wait()
        return store.strike(key("strikes"), token=f"s{index}", threshold=5, window_ms=60_000, now_ms=1000)

    with ThreadPoolExecutor(50) as pool:
        counts = list(pool.map(one, range(50)))
    assert counts.count(5) == 10  # every fifth strike blocks, and the count starts again


def test_take_is_once_only(store: AbuseStore) -> None:
    store.put(key("c"), "v", ttl_seconds=60)
    assert (store.take(key("c")), store.take(key("c"))) == ("v", None)


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("https://WWW.Example.com:443/path?q", "https://www.example.com"),
        ("www.example.com", "https://www.example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("https://*.example.com", "https://*.example.com"),
    ],
)
def test_origins_are_normalised_as_browsers_send_them(typed: str, normal: str) -> None:
    assert origin_normalize(typed) == normal


@pytest.mark.parametrize(
    "typed", ["javascript:alert(1)", "ftp://example.com", "https://user:pw@example.com", "https://"]
)
def test_what_is_not_a_website_origin_is_refused(typed: str) -> None:
    with pytest.raises(InvalidOrigin):
        origin_normalize(typed)


def test_origin_matching() -> None:
    allowed = ["https://shop.example.com", "https://*.example.org"]
    assert origin_allowed("https://shop.example.com", allowed)
    assert origin_allowed("https://a.b.example.org", allowed)
    assert not origin_allowed("http://shop.example.com", allowed)
    assert not origin_allowed("https://example.org", allowed)
    assert not origin_allowed("https://evilexample.org", allowed)
    assert not origin_allowed("null", allowed)
    assert not origin_allowed("", allowed)


def test_the_script_is_small() -> None:
    """Stated in README.md: the widget is under 20 KB gzipped."""
    assert len(gzip.compress(SCRIPT.read_bytes(), 9)) < 20 * 1024


def test_every_string_of_the_script_exists_in_both_languages() -> None:
    source = SCRIPT.read_text()
    english = source[source.index("en: {") : source.index('"zh-hans": {')]
    chinese = source[source.index('"zh-hans": {') : source.index("var ERRORS")]
    keys = lambda block: set(re.findall(r"(?:^|[{,])\s*(\w+): \"", block, flags=re.MULTILINE))  # noqa: E731
    assert keys(english) == keys(chinese)
