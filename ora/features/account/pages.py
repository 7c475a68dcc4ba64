"""HTML pages of the login flow: plain, accessible, self-contained (no external assets), English or Japanese.

Pure functions from values to markup. Catalog strings are plain text and every string — catalog text and
the values formatted into it (emails, provider error codes) — is HTML-escaped here, in one place.
"""

from __future__ import annotations

import html

import attrs

from ora.core.i18n import Catalog

CONFIRM_ACTION = "confirm"  # relative to /auth/google/callback: /auth/google/confirm, also behind a path prefix
MAX_SHOWN_VALUE = 200

STYLE = """
:root { color-scheme: light dark; }
body { font-family: system-ui, -apple-system, "Segoe UI", "Hiragino Sans", "Noto Sans JP", sans-serif;
       line-height: 1.6; margin: 0; padding: 2rem 1rem; }
main, footer { max-width: 40rem; margin: 0 auto; }
h1 { font-size: 1.5rem; line-height: 1.3; }
.site { font-size: 0.9rem; margin: 0 0 1rem; opacity: 0.8; }
.warning { border-left: 0.3rem solid #b45309; padding: 0.5rem 0.75rem; background: rgba(180, 83, 9, 0.08); }
fieldset { border: 1px solid #8884; border-radius: 0.4rem; padding: 0.5rem 1rem 1rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
.actions { display: flex; gap: 0.75rem; flex-wrap: wrap; margin-top: 1.25rem; }
button { font: inherit; padding: 0.5rem 1.25rem; border-radius: 0.4rem; border: 1px solid #1d4ed8;
         background: #1d4ed8; color: #fff; cursor: pointer; }
button.secondary { background: transparent; color: inherit; border-color: #888; }
button:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
footer { margin-top: 2rem; font-size: 0.9rem; opacity: 0.8; }
""".strip()


@attrs.frozen
class Page:
    """A rendered page and the HTTP status it is served with."""

    status: int
    html: str


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def shown(value: str) -> str:
    """A user- or provider-controlled value fit for display: printable characters only, bounded length."""
    cleaned = "".join(char if char.isprintable() else "\ufffd" for char in value)
    return cleaned if len(cleaned) <= MAX_SHOWN_VALUE else cleaned[: MAX_SHOWN_VALUE - 1] + "…"


def document(catalog: Catalog, language: str, title: str, body: str) -> str:
    """The whole HTML document around `body` (already markup); `title` is plain text."""
    site = escape(catalog.t(language, "web.site_name"))
    footer = escape(catalog.t(language, "web.footer"))
    return (
        "<!doctype html>\n"
        f'<html lang="{escape(language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        # An empty inline icon: browsers would otherwise request /favicon.ico (a 404) on every page.
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)} · {site}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
        f'<main>\n<p class="site">{site}</p>\n<h1>{escape(title)}</h1>\n{body}\n</main>\n'
        f"<footer><p>{footer}</p></footer>\n</body>\n</html>\n"
    )


def _paragraph(text: str, css_class: str | None = None) -> str:
    attribute = f' class="{css_class}"' if css_class else ""
    return f"<p{attribute}>{escape(text)}</p>"


def message_page(
    catalog: Catalog,
    language: str,
    kind: str,
    *,
    status: int,
    try_again: bool = False,
    retry_same_link: bool = False,
    **values: str,
) -> Page:
    """A page with the title and message of `web.<kind>.*`; `values` are formatted in, then escaped.

    `try_again` adds "run /login again"; `retry_same_link` says the same /login link still works instead.
    """
    title = catalog.t(language, f"web.{kind}.title")
    paragraphs = [_paragraph(catalog.t(language, f"web.{kind}.message", **{k: shown(v) for k, v in values.items()}))]
    if retry_same_link:
        paragraphs.append(_paragraph(catalog.t(language, "web.retry_same_link")))
    elif try_again:
        paragraphs.append(_paragraph(catalog.t(language, "web.try_again")))
    return Page(status, document(catalog, language, title, "\n".join(paragraphs)))


def token_invalid_page(
    catalog: Catalog, language: str, code: str, *, try_again: bool = True, retry_same_link: bool = False
) -> Page:
    """The provider's answer failed a check: say which one (`code` is an `OIDCError` code)."""
    reason_key = f"web.reason.{code}"
    if reason_key not in catalog.strings(language):
        reason_key = "web.reason.bad_token"
    reason = catalog.t(language, reason_key)
    status = 502 if retry_same_link else 400
    return message_page(
        catalog,
        language,
        "token_invalid",
        status=status,
        try_again=try_again,
        retry_same_link=retry_same_link,
        reason=reason,
    )


def _email_text(catalog: Catalog, language: str, email: str | None, verified: bool) -> str:
    if not email:
        return catalog.t(language, "web.confirm.no_email")
    if not verified:
        return catalog.t(language, "web.confirm.unverified", email=shown(email))
    return shown(email)


def confirm_page(
    catalog: Catalog,
    language: str,
    *,
    email: str | None,
    email_verified: bool,
    sub: str,
    discord_user_id: int,
    csrf_token: str,
    discord_name: str | None = None,
) -> Page:
    """ "Link Google account X to Discord user Y?" with a CSRF-protected form (confirm or cancel)."""

    def t(key: str, **values: str) -> str:
        return catalog.t(language, key, **values)

    email_text = _email_text(catalog, language, email, email_verified)
    if discord_name:
        discord_user = t("web.confirm.discord_named", name=shown(discord_name), discord_user_id=str(discord_user_id))
    else:
        discord_user = t("web.confirm.discord_value", discord_user_id=str(discord_user_id))
    rows = (
        (t("web.confirm.google"), email_text),
        (t("web.confirm.sub"), shown(sub)),
        (t("web.confirm.discord"), discord_user),
    )
    details = "".join(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in rows)
    body = "\n".join(
        [
            _paragraph(t("web.confirm.question", email=email_text, discord_user=discord_user)),
            f'<p class="warning" role="note">{escape(t("web.confirm.warning"))}</p>',
            f'<form method="post" action="{CONFIRM_ACTION}">',
            f'<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">',
            f"<fieldset><legend>{escape(t('web.confirm.legend'))}</legend><dl>{details}</dl></fieldset>",
            '<div class="actions">',
            f'<button type="submit" name="action" value="confirm">{escape(t("web.confirm.submit"))}</button>',
            '<button type="submit" name="action" value="cancel" class="secondary">'
            f"{escape(t('web.confirm.cancel'))}</button>",
            "</div>\n</form>",
        ]
    )
    return Page(200, document(catalog, language, t("web.confirm.title"), body))


def success_page(catalog: Catalog, language: str, *, email: str | None, discord_user_id: int) -> Page:
    """The link is stored."""
    discord_user = catalog.t(language, "web.confirm.discord_value", discord_user_id=str(discord_user_id))
    email_text = shown(email) if email else catalog.t(language, "web.confirm.no_email")
    body = "\n".join(
        [
            _paragraph(catalog.t(language, "web.success.message", email=email_text, discord_user=discord_user)),
            _paragraph(catalog.t(language, "web.success.next")),
        ]
    )
    return Page(200, document(catalog, language, catalog.t(language, "web.success.title"), body))
