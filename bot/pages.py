"""Small, self-contained HTML pages (the sign-in result pages, and the fake Coveo's sign-in page).

Every page is one HTML document with its style inline and nothing else: no script, no image, no
font, no external request. The ``Content-Security-Policy`` allows only that inline style (by
its SHA-256 hash) and, where a page has a form, posting it to its own origin (plus the redirect
target's origin, since CSP ``form-action`` also governs the redirect that follows a post).
Headers follow the OWASP Secure Headers project's recommendations for pages that carry secrets
in their URL: ``Cache-Control: no-store``, ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from html import escape

STYLE = (
    "body{font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;"
    "background:#f6f6f7;color:#1d1c1d}"
    "main{max-width:34rem;margin:12vh auto;padding:2rem;background:#fff;"
    "border:1px solid #ddd;border-radius:8px}"
    "h1{font-size:1.4rem;margin:0 0 1rem}"
    "p{margin:0 0 .8rem}"
    ".ok h1{color:#14662e}.problem h1{color:#a4141d}"
    "button{font:inherit;display:block;width:100%;margin:.5rem 0;padding:.6rem;"
    "border:1px solid #888;border-radius:6px;background:#fff;color:#1d1c1d;cursor:pointer}"
    "button.primary{background:#14662e;border-color:#14662e;color:#fff}"
    "button:focus{outline:3px solid #1264a3;outline-offset:2px}"
)
"""The only style; it is allowed by hash, so an injected ``<style>`` could not apply."""

_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")


def content_security_policy(form_targets: tuple[str, ...] = ()) -> str:
    """The page's CSP: nothing loads but the inline style; forms post only to ``form_targets``
    (origins, or ``'self'``), none when empty."""
    form = " ".join(form_targets) if form_targets else "'none'"
    return (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none';"
        f" form-action {form}; frame-ancestors 'none'; base-uri 'none'"
    )


@dataclass(frozen=True)
class Page:
    """A rendered page: HTTP ``status`` line (e.g. ``400 Bad Request``), ``headers``, ``body``."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes


def render(
    *,
    status: str,
    title: str,
    paragraphs: list[str],
    ok: bool,
    form_html: str = "",
    form_targets: tuple[str, ...] = (),
) -> Page:
    """Build a page. ``title`` and ``paragraphs`` are plain text (escaped here); ``form_html``
    is trusted markup built by the caller with :func:`html.escape` on every value."""
    body = "".join(f"<p>{escape(text)}</p>" for text in paragraphs)
    role = "status" if ok else "alert"
    document = (
        "<!DOCTYPE html>"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f'<body><main class="{"ok" if ok else "problem"}">'
        f'<h1 role="{role}">{escape(title)}</h1>{body}{form_html}</main></body></html>'
    )
    data = document.encode("utf-8")
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(data))),
        ("Content-Security-Policy", content_security_policy(form_targets)),
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    return Page(status, headers, data)
