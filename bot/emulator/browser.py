"""A tiny text "browser" for the local stack: open a sign-in link, press a button of its form,
follow the redirects, and read the page that ends it (used by the console, the demo and tests).

It reads only what the sign-in pages use: a title, headings and paragraphs, and one form of
hidden inputs and submit buttons. No script is run (the pages have none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

__all__ = ["Choice", "WebPage", "choose", "open_page"]


@dataclass(frozen=True)
class Choice:
    """One submit button of the page's form: its label and the fields it sends."""

    label: str
    fields: dict[str, str]


@dataclass(frozen=True)
class WebPage:
    """A fetched page: final ``url`` and ``status``, ``title``, visible ``lines``, the form's
    ``action``/``method`` and its ``choices``, and the response ``headers``."""

    url: str
    status: int
    title: str
    lines: list[str]
    action: str | None = None
    method: str = "get"
    choices: list[Choice] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Title and lines, one per line."""
        return "\n".join([self.title, *self.lines])


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.lines: list[str] = []
        self.action: str | None = None
        self.method = "get"
        self.hidden: dict[str, str] = {}
        self.buttons: list[tuple[str, dict[str, str]]] = []
        self._where: str | None = None
        self._text: list[str] = []
        self._button: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag in ("title", "h1", "h2", "p", "button"):
            self._where, self._text = tag, []
        if tag == "form":
            self.action = values.get("action", "")
            self.method = values.get("method", "get").lower()
        elif tag == "input" and values.get("type") == "hidden" and values.get("name"):
            self.hidden[values["name"]] = values.get("value", "")
        elif tag == "button":
            name = values.get("name")
            self._button = {name: values.get("value", "")} if name else {}

    def handle_endtag(self, tag: str) -> None:
        if tag != self._where:
            return
        text = " ".join("".join(self._text).split())
        if tag == "title":
            self.title = text
        elif tag == "button" and self._button is not None:
            self.buttons.append((text, self._button))
            self._button = None
        elif text and tag != "h1":
            self.lines.append(text)
        self._where = None

    def handle_data(self, data: str) -> None:
        if self._where is not None:
            self._text.append(data)


def _read(response: httpx.Response) -> WebPage:
    reader = _Reader()
    reader.feed(response.text)
    choices = [Choice(label, {**reader.hidden, **sent}) for label, sent in reader.buttons]
    action = urljoin(str(response.url), reader.action) if reader.action is not None else None
    return WebPage(
        url=str(response.url),
        status=response.status_code,
        title=reader.title,
        lines=reader.lines,
        action=action,
        method=reader.method,
        choices=choices,
        headers=dict(response.headers),
    )


def open_page(client: httpx.Client, url: str) -> WebPage:
    """GET ``url``, following redirects (``client`` must not follow them itself or may).

    Raises:
        httpx.HTTPError: the page could not be fetched.
    """
    return _read(client.get(url, follow_redirects=True))


def choose(client: httpx.Client, page: WebPage, index: int) -> WebPage:
    """Press button ``index`` (0-based) of ``page``'s form and follow the redirects.

    Raises:
        IndexError: no such button. httpx.HTTPError: the request failed.
    """
    choice = page.choices[index]
    target = page.action or page.url
    if page.method == "post":
        response = client.post(target, data=choice.fields, follow_redirects=True)
    else:
        response = client.get(target, params=choice.fields, follow_redirects=True)
    return _read(response)
