"""What a client may register as callback, logout URL and web origin."""

from __future__ import annotations

import pytest

from twofold.core.client_urls import (
    MAX_URLS_PER_LIST,
    UrlRefused,
    normalize_origin,
    origin_list,
    url_list,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/callback",
        "https://app.example.com:8443/cb?tenant=1",
        "http://localhost:3000/callback",
        "http://127.0.0.1/cb",
        "https://[::1]/cb",
    ],
)
def test_accepted_urls_are_kept_as_written(url):
    assert url_list([url], "callback") == (url,)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://app.example.com/cb", "http is allowed on localhost"),
        ("https://*.example.com/cb", "wildcards are not supported"),
        ("https://app.example.com/cb#frag", "fragment"),
        ("https://app.example.com/cb#", "fragment"),
        ("/relative/cb", "absolute https"),
        ("app.example.com/cb", "absolute https"),
        ("javascript:alert(1)", "absolute https"),
        ("com.example.app://callback", "absolute https"),
        ("https://user:pw@app.example.com/cb", "user or password"),
        ("https://app.example.com/c b", "spaces"),
        ("https://app.example.com/\ncb", "control"),
        ("https://app.example.com:99999/", "not a valid URL"),
        ("", "empty"),
        ("https://a.example/" + "x" * 2048, "longer than"),
    ],
)
def test_refused_urls(url, why):
    with pytest.raises(UrlRefused, match=why):
        url_list([url], "callback")


def test_duplicates_are_kept_once_in_order():
    urls = ["https://b.example/", "https://a.example/", "https://b.example/"]
    assert url_list(urls, "logout URL") == ("https://b.example/", "https://a.example/")


def test_lists_are_capped():
    with pytest.raises(UrlRefused, match="at most"):
        url_list([f"https://a.example/{n}" for n in range(MAX_URLS_PER_LIST + 1)], "callback")


@pytest.mark.parametrize(
    ("origin", "normalized"),
    [
        ("https://App.Example.com", "https://app.example.com"),
        ("https://app.example.com/", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("https://app.example.com:8443", "https://app.example.com:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
    ],
)
def test_origins_are_stored_as_browsers_send_them(origin, normalized):
    assert normalize_origin(origin) == normalized


@pytest.mark.parametrize(
    "origin", ["https://app.example.com/path", "https://app.example.com/?q=1", "http://x.example"]
)
def test_an_origin_has_no_path_and_https(origin):
    with pytest.raises(UrlRefused):
        origin_list([origin])
