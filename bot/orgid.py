"""Normalize and strictly validate the organization ID typed after ``/delete-org``.

The accepted form is documented in the README: lowercase ASCII letters, digits and hyphens,
starting and ending with a letter or digit, at most :data:`MAX_ORG_ID_LENGTH` characters.
Coveo documents how IDs are generated (lowercased name without special characters, plus a
suffix, sometimes a GUID: docs.coveo.com/en/148) but no length limit or exact character set,
so this allow-list is deliberately strict and Coveo stays the authority (the preview reads the
organization before any deletion is offered).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_ORG_ID_LENGTH = 100
ORG_ID_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.ASCII)

# Production Admin Console hosts and the region each one implies (docs.coveo.com/en/2976;
# coveo/platform-client Endpoints.ts). Dev and staging hosts are deliberately not accepted.
ADMIN_HOST_REGIONS = {
    "platform.cloud.coveo.com": "us",
    "platform-eu.cloud.coveo.com": "eu",
    "platform-au.cloud.coveo.com": "au",
    "platform-ca.cloud.coveo.com": "ca",
    "platformhipaa.cloud.coveo.com": "hipaa",
}
# First path segments of Admin Console links that are sections, not organization IDs, and the
# literal placeholder used in Coveo's documentation.
NOT_ORG_IDS = frozenset(
    {
        "orgid",
        "organizationid",
        "content",
        "search",
        "organization",
        "analytics",
        "settings",
        "home",
        "commerce",
        "service",
        "usage",
        "login",
    }
)
_QUOTE_PAIRS = (('"', '"'), ("'", "'"), ("\u201c", "\u201d"), ("\u2018", "\u2019"), ("`", "`"))
# Invisible characters that are not Unicode whitespace but often ride along a paste.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_BARE_HOST = re.compile(r"platform[a-z0-9-]*\.cloud\.coveo\.com(/|$)")
# Coveo access tokens look like a GUID, sometimes prefixed with two letters
# (docs.coveo.com/en/109 shows "xx590a182c-5045-4914-a00b-1f4099581b3e"); no organization ID
# is a bare GUID, so one is refused without being echoed or sent anywhere.
_TOKEN_SHAPE = re.compile(
    r"(?:[a-z]{2})?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_SLACK_TOKEN = re.compile(r"<([^<>|]*)(?:\|[^<>]*)?>")


class OrgIdError(ValueError):
    """The argument is not a usable organization ID; ``problem`` says why, in plain words."""

    def __init__(self, problem: str, shown: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.shown = shown


@dataclass(frozen=True)
class OrgRef:
    """A validated organization ID, plus the region of the Admin Console URL it came from."""

    org_id: str
    region_hint: str | None = None


MAX_INPUT_LENGTH = 2000
"""Longer arguments are refused before any parsing (no ID or Admin Console URL is that long)."""


def _is_padding(char: str) -> bool:
    return char.isspace() or char in _INVISIBLE


def _strip(text: str) -> str:
    # A linear scan from both ends: a regex anchored at the end is quadratic on long inner runs.
    start, end = 0, len(text)
    while start < end and _is_padding(text[start]):
        start += 1
    while end > start and _is_padding(text[end - 1]):
        end -= 1
    return text[start:end]


def _unescape_slack(text: str) -> str:
    # Slack escapes only these three (docs.slack.dev/messaging/formatting-message-text);
    # html.unescape would also decode &#97; and friends, widening what is accepted.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _unquote(text: str) -> str:
    for opening, closing in _QUOTE_PAIRS:
        if len(text) >= 2 and text.startswith(opening) and text.endswith(closing):
            return _strip(text[len(opening) : -len(closing)])
    return text


def _describe_char(char: str) -> str:
    name = unicodedata.name(char, "unnamed character")
    return f"U+{ord(char):04X} {name}"


def _from_admin_url(url: str, shown: str) -> OrgRef:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    # http is accepted because Slack rewrites a pasted scheme-less link to http://...; the URL is
    # only read for its ID and host, never fetched.
    if parts.scheme not in ("https", "http") or host not in ADMIN_HOST_REGIONS:
        raise OrgIdError(
            "that link is not a Coveo Admin Console URL "
            "(expected https://platform[-eu|-au|-ca].cloud.coveo.com/admin/#/<org-id>/...)",
            shown,
        )
    if parts.path.rstrip("/") != "/admin" or not parts.fragment.startswith("/"):
        raise OrgIdError(
            "that Coveo URL does not contain an organization ID after /admin/#/", shown
        )
    candidate = parts.fragment.lstrip("/").split("/", 1)[0].split("?", 1)[0]
    if candidate.lower() in NOT_ORG_IDS:
        raise OrgIdError(
            f"that Coveo URL has `{candidate}` where the organization ID should be; "
            "open the organization in the Admin Console and copy its URL again",
            shown,
        )
    return OrgRef(_validate(candidate, shown), ADMIN_HOST_REGIONS[host])


def _validate(candidate: str, shown: str) -> str:
    if not candidate:
        raise OrgIdError("the organization ID is empty", shown)
    if any(char.isspace() for char in candidate):
        raise OrgIdError("give exactly one organization ID (it contains spaces)", shown)
    for char in candidate:
        if not char.isascii() or not unicodedata.category(char).startswith(("L", "N", "P", "S")):
            raise OrgIdError(
                f"it contains the character {_describe_char(char)}; organization IDs use only "
                "a-z, 0-9 and hyphens (was it pasted from a document that changed characters?)",
                shown,
            )
    if len(candidate) > MAX_ORG_ID_LENGTH:
        raise OrgIdError(
            f"it is {len(candidate)} characters long; organization IDs have at most "
            f"{MAX_ORG_ID_LENGTH}",
            shown,
        )
    if _TOKEN_SHAPE.fullmatch(candidate.lower()):
        raise OrgIdError(
            "it looks like an access token, not an organization ID. Never type tokens in a"
            " command: consider this one exposed and sign out of Coveo to revoke it",
            "(hidden)",
        )
    if ORG_ID_PATTERN.fullmatch(candidate):
        if candidate in NOT_ORG_IDS:
            raise OrgIdError(f"`{candidate}` is a placeholder, not an organization ID", shown)
        return candidate
    lowered = candidate.lower()
    if lowered != candidate and ORG_ID_PATTERN.fullmatch(lowered) and lowered not in NOT_ORG_IDS:
        raise OrgIdError(
            f"organization IDs are lowercase; if you mean `{lowered}`, type it exactly so", shown
        )
    raise OrgIdError(
        "organization IDs use only lowercase letters a-z, digits and hyphens, "
        "and start and end with a letter or digit",
        shown,
    )


def parse_org_argument(text: str) -> OrgRef:
    """Turn the text of ``/delete-org <org-id>`` into a validated :class:`OrgRef`.

    Accepts, in this order: Slack ``<...|label>`` link markup (the label is ignored), Slack's
    ``&amp;``/``&lt;``/``&gt;`` escaping, surrounding whitespace (non-breaking and zero-width
    too), one pair of straight, curly or back quotes, and an Admin Console URL
    (``https://platform[-region].cloud.coveo.com/admin/#/<orgId>/...``), from which the ID and
    the region are taken. Nothing is lowercased or otherwise changed silently.

    Raises:
        OrgIdError: with a plain-words ``problem``; the caller shows it and calls nothing.
    """
    if len(text) > MAX_INPUT_LENGTH:
        raise OrgIdError(
            f"it is {len(text)} characters long; organization IDs have at most {MAX_ORG_ID_LENGTH}",
            text[:120],
        )
    shown = _strip(text)[:120]
    value = _strip(text)
    mentions = _SLACK_TOKEN.findall(value)
    if mentions:
        whole = _SLACK_TOKEN.fullmatch(value)
        if whole is None:
            raise OrgIdError("give exactly one organization ID", shown)
        target = whole.group(1)
        if target[:1] in ("@", "#", "!"):
            raise OrgIdError("that is a Slack mention, not an organization ID", shown)
        value = target
    elif "<" in value or ">" in value:
        raise OrgIdError("give exactly one organization ID", shown)
    value = _unquote(_strip(_unescape_slack(value)))
    lowered = value.lower()
    if lowered.startswith("mailto:") or ("@" in value and "/" not in value):
        raise OrgIdError("that is an email address, not an organization ID", shown)
    if _BARE_HOST.match(lowered):
        value = "https://" + value  # a URL pasted without its scheme
    if "://" in value:
        return _from_admin_url(value, shown)
    return OrgRef(_validate(value, shown))
