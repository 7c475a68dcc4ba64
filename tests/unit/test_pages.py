"""Login-flow pages: structure, accessibility basics, escaping, languages; URL and cookie helpers."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from ora.app import full_catalog
from ora.core.config import Settings
from ora.core.i18n import Catalog, language_from_accept
from ora.features.account.pages import confirm_page, message_page, shown, success_page, token_invalid_page
from ora.features.account.routes import (
    COOKIE_NAME,
    SECURE_COOKIE_NAME,
    cookie_name,
    login_url,
    redirect_uri,
    secure_cookies,
)

KINDS = [
    "not_configured",
    "state_invalid",
    "provider_unavailable",
    "session_missing",
    "session_invalid",
    "access_denied",
    "token_failed",
    "confirm_invalid",
    "conflict",
    "cancelled",
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return full_catalog()


class Outline(HTMLParser):
    """Tags, attributes and text of a page, plus whether anything external is referenced."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def names(self) -> list[str]:
        return [tag for tag, _ in self.tags]


def outline(page: str) -> Outline:
    parser = Outline()
    parser.feed(page)
    parser.close()
    return parser


def assert_accessible_document(page: str, language: str) -> Outline:
    assert page.startswith("<!doctype html>")
    parsed = outline(page)
    html_tags = [attrs for tag, attrs in parsed.tags if tag == "html"]
    assert html_tags == [{"lang": language}]
    names = parsed.names()
    assert names.count("main") == 1
    assert names.count("h1") == 1
    assert "title" in names
    assert ("meta", {"charset": "utf-8"}) in parsed.tags
    for tag, attrs in parsed.tags:  # no external assets, no scripts
        assert tag not in ("script", "img", "iframe")
        assert "src" not in attrs
        if tag == "link":  # only the inline empty icon
            assert attrs == {"rel": "icon", "href": "data:,"}
    return parsed


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("kind", KINDS)
def test_message_pages(catalog: Catalog, kind: str, language: str) -> None:
    page = message_page(catalog, language, kind, status=400, try_again=True)
    assert page.status == 400
    parsed = assert_accessible_document(page.html, language)
    text = "".join(parsed.text)
    assert catalog.t(language, f"web.{kind}.title") in text
    assert catalog.t(language, "web.try_again") in text


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize(
    "code",
    [
        "bad_signature",
        "wrong_audience",
        "wrong_issuer",
        "expired",
        "wrong_nonce",
        "bad_token",
        "unsupported_algorithm",
        "unknown_key",
        "bad_userinfo",
        "wrong_subject",
        "unknown",
    ],
)
def test_token_invalid_pages_name_the_reason(catalog: Catalog, code: str, language: str) -> None:
    page = token_invalid_page(catalog, language, code)
    reason = code if code != "unknown" else "bad_token"
    assert page.status == 400
    assert catalog.t(language, f"web.reason.{reason}") in "".join(outline(page.html).text)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_confirm_page(catalog: Catalog, language: str) -> None:
    page = confirm_page(
        catalog,
        language,
        email="user@example.com",
        email_verified=True,
        sub="1234567890",
        discord_user_id=42,
        csrf_token="csrf-token-value",
    )
    parsed = assert_accessible_document(page.html, language)
    forms = [attrs for tag, attrs in parsed.tags if tag == "form"]
    assert forms == [{"method": "post", "action": "confirm"}]
    assert ("input", {"type": "hidden", "name": "csrf_token", "value": "csrf-token-value"}) in parsed.tags
    buttons = [attrs for tag, attrs in parsed.tags if tag == "button"]
    assert [button["value"] for button in buttons] == ["confirm", "cancel"]
    assert "legend" in parsed.names()
    text = "".join(parsed.text)
    for shown_value in ("user@example.com", "1234567890", "42", catalog.t(language, "web.confirm.warning")):
        assert shown_value in text


def test_confirm_page_without_verified_email(catalog: Catalog) -> None:
    page = confirm_page(
        catalog, "en", email=None, email_verified=False, sub="1", discord_user_id=2, csrf_token="t"
    ).html
    assert "(no email address shared)" in page
    page = confirm_page(
        catalog, "en", email="x@example.com", email_verified=False, sub="1", discord_user_id=2, csrf_token="t"
    ).html
    assert "x@example.com (not verified by Google)" in page


HOSTILE = [
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "{email}{0}{discord_user}",
    "a\x00b\u202ec",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_everything_user_controlled_is_escaped(catalog: Catalog, value: str) -> None:
    pages = [
        confirm_page(
            catalog, "en", email=value, email_verified=True, sub=value, discord_user_id=1, csrf_token="t"
        ).html,
        success_page(catalog, "en", email=value, discord_user_id=1).html,
        message_page(catalog, "en", "provider_error", status=400, error=value).html,
    ]
    for page in pages:
        assert "<script" not in page
        assert "<img" not in page
        assert "onmouseover='" not in page
        assert "\x00" not in page
        assert "\u202e" not in page
        parsed = outline(page)
        assert all(tag not in ("script", "img") for tag, _ in parsed.tags)


def test_csrf_token_is_attribute_escaped(catalog: Catalog) -> None:
    token = '"><script>alert(1)</script>'
    page = confirm_page(catalog, "en", email=None, email_verified=True, sub="1", discord_user_id=1, csrf_token=token)
    parsed = outline(page.html)
    assert ("input", {"type": "hidden", "name": "csrf_token", "value": token}) in parsed.tags
    assert "script" not in parsed.names()


def test_shown_bounds_length_and_control_characters() -> None:
    assert shown("a" * 500).endswith("…")
    assert len(shown("a" * 500)) == 200
    assert shown("ok\nline") == "ok\ufffdline"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ja", "ja"),
        ("ja-JP,ja;q=0.9,en-US;q=0.8", "ja"),
        ("en-US,en;q=0.9,ja;q=0.8", "en"),
        ("fr-FR,ja;q=0.5", "ja"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
        ("ja;q=bogus,en", "en"),
    ],
)
def test_accept_language_choice(header: str | None, language: str) -> None:
    assert language_from_accept(header) == language


def settings(**values: object) -> Settings:
    return Settings(discord_token="t", discord_app_id=1, **values)  # type: ignore[arg-type]


def test_login_url_and_redirect_uri() -> None:
    local = settings(web_host="0.0.0.0", web_port=8123)
    assert login_url(local.web_base_url, "a b/c") == "http://127.0.0.1:8123/auth/discord?state=a%20b%2Fc"
    assert redirect_uri(local) == "http://127.0.0.1:8123/auth/google/callback"
    public = settings(public_base_url="https://ora.example/bot")
    assert login_url(public.web_base_url, "s") == "https://ora.example/bot/auth/discord?state=s"
    assert redirect_uri(public) == "https://ora.example/bot/auth/google/callback"


def test_cookie_is_secure_exactly_when_the_base_url_is_https() -> None:
    assert not secure_cookies(settings())
    assert cookie_name(settings()) == COOKIE_NAME
    https = settings(public_base_url="https://ora.example")
    assert secure_cookies(https)
    assert cookie_name(https) == SECURE_COOKIE_NAME
    assert re.fullmatch(r"__Host-[a-z_]+", SECURE_COOKIE_NAME)


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("rate_limited", {"seconds": "12"}),
        ("form_invalid", {}),
        ("provider_error_described", {"error": "invalid_request", "description": "unsupported prompt value"}),
        ("provider_unsupported", {}),
    ],
)
def test_new_message_pages(catalog: Catalog, kind: str, values: dict[str, str], language: str) -> None:
    page = message_page(catalog, language, kind, status=400, **values)
    text = "".join(assert_accessible_document(page.html, language).text)
    assert catalog.t(language, f"web.{kind}.title") in text
    for value in values.values():
        assert value in text


@pytest.mark.parametrize("language", ["en", "ja"])
def test_retry_with_the_same_link_replaces_run_login_again(catalog: Catalog, language: str) -> None:
    page = message_page(catalog, language, "token_failed", status=502, try_again=True, retry_same_link=True)
    text = "".join(outline(page.html).text)
    assert catalog.t(language, "web.retry_same_link") in text
    assert catalog.t(language, "web.try_again") not in text


def test_the_discord_name_is_filtered_like_the_email(catalog: Catalog) -> None:
    page = confirm_page(
        catalog,
        "en",
        email="a@example.com",
        email_verified=True,
        sub="1",
        discord_user_id=2,
        csrf_token="t",
        discord_name="evil\u202egnp.exe\x1b[31m" + "x" * 500,
    )
    assert "\u202e" not in page.html
    assert "\x1b" not in page.html
    assert "@evil\ufffdgnp.exe\ufffd[31m" in page.html
    assert "x" * 250 not in page.html
