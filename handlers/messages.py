"""User-facing text, and the one place that turns errors into messages a person can act on."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

from bot.coveo import (
    REGION_LABELS,
    CoveoAPIError,
    CoveoError,
    CoveoProtocolError,
    CoveoTimeout,
    CoveoUnavailable,
    NotAUserToken,
)
from bot.orgid import MAX_ORG_ID_LENGTH, OrgIdError
from bot.wording import plural
from handlers.ids import COMMAND

USAGE = (
    f"*{COMMAND}* deletes a Coveo organization after you confirm it.\n"
    f"• `{COMMAND} <org-id>`: preview the organization, then *Confirm deletion* or *Cancel*\n"
    f"• `{COMMAND} link`: link your own Coveo access token (needed once, and again when it"
    " expires)\n"
    f"• `{COMMAND} unlink`: forget your token\n"
    f"• `{COMMAND} status`: show your link\n"
    f"• `{COMMAND} policy`: what the deletion policy lets you do, and where\n"
    f"• `{COMMAND} freeze [reason]` / `{COMMAND} unfreeze`: stop or allow all deletions (admins)\n"
    f"• `{COMMAND} help`: this text\n"
    f"An organization ID looks like `mycoveoorganizationg8tp8wu3`: lowercase letters, digits and"
    f" hyphens, at most {MAX_ORG_ID_LENGTH} characters. You can also paste its Admin Console URL."
)
HOW_TO_GET_TOKEN = (
    "To get your personal Coveo access token: sign in to the Coveo Administration Console, open"
    " your browser's developer tools, and copy the `coveo-access-token` value from local storage"
    " (it lasts up to 4 hours), or run `coveo auth:login` then `coveo config:get accessToken`"
    " with the Coveo CLI (24 hours). API keys cannot delete organizations."
)
NOT_LINKED = (
    "You have not linked a Coveo account yet. Deletions are made with *your own* Coveo access"
    " token, so Coveo checks your own privileges."
)
RELINK = "Coveo no longer accepts your linked token (it expired or was revoked). Link a fresh one."
REFRESH_REFUSED = (
    "Coveo refused to renew your sign-in (it was revoked or has run out). Nothing was deleted."
    " Sign in with Coveo again."
)
REFRESH_UNAVAILABLE = (
    "Your Coveo sign-in has to be renewed, but Coveo could not be reached. Nothing changed;"
    " try again in a minute."
)
LINK_UNREADABLE = (
    "Your stored token can no longer be read (the app's encryption key changed). Link it again."
)
UNLINKED = "Your Coveo token was removed from this app."
ADMINS_ONLY = (
    "Only the admins named in the deletion policy can freeze or unfreeze deletions."
    f" `{COMMAND} policy` shows who they are."
)
NOT_LINKED_STATUS = "You have not linked a Coveo account. Run `/delete-org link`."
ONLY_REQUESTER = "Only <@{requester}> can confirm or cancel this deletion."
CARD_GONE = "This deletion request is not known any more. Nothing was deleted."
BACKUP_NOTE = (
    "Deletion is permanent. Coveo keeps a backup for 30 days; only Coveo Support can restore it."
)
MODAL_OPEN_FAILED = (
    "Slack could not open the form ({error}). Nothing changed; try again (Slack allows only 3"
    " seconds to open it)."
)
DATABASE_UNAVAILABLE = (
    "delete-org-bot cannot reach its database right now, so this step did not happen; nothing"
    " was deleted by it. Try again in a minute; tell your Slack admins if it repeats."
)
LINK_DATABASE_UNAVAILABLE = (
    "delete-org-bot cannot reach its database right now; nothing was saved. Try again in a minute."
)
"""The link form's inline error when the link cannot be stored (the database is gone)."""
CONFIRM_DATABASE_UNAVAILABLE = (
    "delete-org-bot cannot reach its database right now; nothing was confirmed or deleted."
    " Try again in a minute."
)
"""The Confirm form's inline error when the request cannot be read (the database is gone)."""
OUTCOME_NOT_RECORDED = (
    "delete-org-bot cannot reach its database, so the outcome of deleting `{org}` is not"
    " recorded yet ({answer}). Nothing more is sent to Coveo: once the database is back, the"
    " app reads the organization and posts the outcome in the card's thread."
)
INTERNAL_ERROR = (
    "Something went wrong inside delete-org-bot; nothing was deleted by this step. The error"
    " was logged for the operators. Try again, and tell your Slack admins if it repeats."
)


_INVISIBLE_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
"""Unicode general categories shown as ``U+XXXX``: controls, format characters (bidi
overrides such as U+202E, zero-width characters), surrogates, private use, unassigned, and
line/paragraph separators. Source: Unicode Standard Annex #44, General_Category."""


def _visible(char: str) -> str:
    if char in "\n\t" or unicodedata.category(char) not in _INVISIBLE_CATEGORIES:
        return char
    return f"U+{ord(char):04X}"


def esc(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` so text from users or Coveo cannot form Slack markup
    (mentions, links, ``<!channel>``), and show invisible or reordering characters (bidi
    controls, zero-width and control characters, except newline and tab) as ``U+XXXX``, so an
    echoed value reads as what it is. Source: docs.slack.dev/messaging/formatting-message-text.
    """
    shown = "".join(_visible(char) for char in text)
    return shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc_clip(text: str, limit: int) -> str:
    """Escape ``text`` like :func:`esc` and cut it so the *escaped* result has at most ``limit``
    characters (ending in ``…`` when cut), never splitting an escape sequence."""
    escaped = esc(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for char in text:
        piece = esc(char)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + "…"


def region_label(region: str) -> str:
    """Human label of a Coveo region key (``eu`` → ``EU``)."""
    return REGION_LABELS.get(region, region.upper())


def org_id_problem(error: OrgIdError) -> str:
    """Message for an argument that is not a valid organization ID (nothing was called)."""
    return (
        f"`{esc(error.shown)}` is not a valid organization ID: {error.problem}.\n"
        f"Nothing was looked up or deleted. Example: `{COMMAND} mycoveoorganizationg8tp8wu3`."
        f" Type `{COMMAND} help` for more."
    )


def looking_up(org_id: str) -> str:
    """Sent privately once the link, region and policy checks passed, just before the Coveo
    lookup (never before: an unlinked or refused request is not "looked up")."""
    return f"Looking up `{esc(org_id)}` with your Coveo token…"


def did_you_mean(word: str, commands: list[str]) -> str:
    """``word`` is a near miss of command words (``lnk`` → ``link``): nothing was looked up.
    The Admin Console URL is the way to name an organization whose ID looks like one."""
    shown = " or ".join(f"`{COMMAND} {command}`" for command in commands)
    return (
        f"`{esc(word[:60])}` looks like a mistyped command: did you mean {shown}?"
        f" Nothing was looked up or deleted. To delete an organization with the ID"
        f" `{esc(word[:60])}`, paste its Admin Console URL instead. Type `{COMMAND} help` for"
        " more."
    )


def region_mismatch(url_region: str, link_region: str) -> str:
    """The Admin Console URL names another region than the user's linked token."""
    return (
        f"That URL is for an organization in region {region_label(url_region)}, but your linked"
        f" token is for region {region_label(link_region)}. Nothing was looked up. Run"
        f" `{COMMAND} link` and pick {region_label(url_region)} to manage that organization."
    )


@dataclass(frozen=True)
class Explanation:
    """A Coveo failure as shown to people.

    ``summary``: one line (status, code); ``detail``: Coveo's message; ``request_id``: Coveo's
    ``X-Request-ID``; ``next_step``: what to do now; ``relink``: offer the Link button.
    """

    summary: str
    detail: str | None
    request_id: str | None
    next_step: str
    relink: bool = False
    status: int | None = None
    code: str | None = None

    def as_text(self) -> str:
        """Render as Slack mrkdwn (Coveo's words escaped)."""
        lines = [self.summary]
        if self.detail:
            lines.append(f"Coveo says: _{esc(self.detail)}_")
        if self.request_id:
            lines.append(f"Coveo request ID: `{esc(self.request_id)}`")
        lines.append(f"*Next step:* {self.next_step}")
        return "\n".join(lines)


def explain_coveo_error(
    error: CoveoError, *, org_id: str, region: str, deleting: bool
) -> Explanation:
    """Turn any :class:`~bot.coveo.CoveoError` into an :class:`Explanation`.

    ``deleting`` is True for the ``DELETE`` call (then a timeout means the outcome is unknown)
    and False for the preview lookup (then nothing can have been deleted).
    """
    where = region_label(region)
    if isinstance(error, CoveoAPIError):
        summary = f"HTTP {error.status}" + (f" `{esc(error.code)}`" if error.code else "")
        status = error.status
        relink = False
        if status == 401:
            next_step = (
                f"Coveo refused your token (expired or revoked). Run `{COMMAND} link` again."
            )
            relink = True
        elif error.read_only:
            next_step = (
                "The organization is paused or read-only, and Coveo cannot delete it in that"
                " state. Reactivate it first (sign in to its Administration Console, which"
                " resumes a paused organization), then try again. An organization whose"
                " subscription ended stays read-only: contact Coveo Support."
            )
        elif status in (403, 404) and not deleting:
            next_step = (
                f"No access, or no such organization `{esc(org_id)}` in region {where}. Check"
                f" the ID, and that your linked token is for the right region"
                f" (`{COMMAND} status`)."
            )
        elif status == 403:
            next_step = (
                f"You have no access to `{esc(org_id)}` in region {where}, or lack the"
                " *Organization - Edit* privilege there. Ask an administrator of that"
                " organization to grant it, or check the organization ID and region."
            )
        elif status == 404:
            next_step = (
                f"No organization `{esc(org_id)}` is visible to you in region {where}. Check the"
                f" ID and that your token's region is right (`{COMMAND} status`)."
            )
        elif status == 429:
            wait = (
                f" (Coveo asks to wait {math.ceil(error.retry_after)} s)"
                if error.retry_after
                else ""
            )
            next_step = f"Coveo is rate limiting requests{wait}. Try again in a minute."
        elif status >= 500:
            next_step = (
                "Coveo had a server error. Try again in a few minutes; check"
                " status.cloud.coveo.com if it persists."
            )
        else:
            next_step = (
                "Coveo refused the request with an unexpected status. Try again later; if it"
                " repeats, give Coveo Support the request ID."
            )
        return Explanation(
            summary, error.detail, error.request_id, next_step, relink, status, error.code
        )
    if isinstance(error, NotAUserToken):
        return Explanation(
            "This is not a user's access token",
            None,
            None,
            "API keys and platform tokens cannot delete organizations. " + HOW_TO_GET_TOKEN,
            relink=True,
        )
    if isinstance(error, CoveoUnavailable) and not error.maybe_sent:
        return Explanation(
            "Could not reach Coveo",
            None,
            None,
            "The request never reached Coveo, so nothing changed. Try again in a few minutes.",
        )
    if isinstance(error, CoveoTimeout | CoveoUnavailable):
        if deleting:
            return Explanation(
                "Coveo did not answer in time: the outcome is unknown",
                None,
                None,
                f"The organization may or may not have been deleted. Check whether"
                f" `{esc(org_id)}` still exists (Administration Console, or"
                f" `{COMMAND} {esc(org_id)}` which previews it if it is still there) and report"
                " what you find in this thread.",
                code="TIMEOUT",
            )
        return Explanation(
            "Coveo did not answer in time",
            None,
            None,
            "Nothing was deleted. Try again in a minute.",
            code="TIMEOUT",
        )
    if isinstance(error, CoveoProtocolError):
        return Explanation(
            "Coveo sent an answer this app cannot read",
            None,
            error.request_id,
            "Nothing was deleted by this step. Try again; if it repeats, report the request ID.",
        )
    return Explanation("Coveo error", str(error), None, "Try again in a few minutes.")


def link_refused(error: CoveoError, region: str) -> str:
    """Inline error under the token field of the link modal (nothing was saved)."""
    where = region_label(region)
    if isinstance(error, NotAUserToken):
        return (
            "This is an API key or platform token, not a user's access token; those cannot"
            " delete organizations. Paste your personal access token."
        )
    if isinstance(error, CoveoAPIError):
        if error.status in (400, 401, 403):
            return (
                f"Coveo refused this token in region {where} (HTTP {error.status}): it is"
                " expired, revoked, mistyped or for another region. Nothing was saved."
            )
        return (
            f"Coveo could not check the token (HTTP {error.status}). Nothing was saved;"
            " try again in a minute."
        )
    if isinstance(error, CoveoUnavailable):
        return "Coveo did not answer in time, so the token was not checked or saved. Try again."
    return "Coveo sent an unreadable answer; the token was not saved. Try again."


BAD_TOKEN_SHAPE = (
    "That does not look like an access token (it has spaces or unusual characters inside)."
    " Paste only the token."
)
EMPTY_TOKEN = "Paste your Coveo access token."
TOKEN_TOO_LONG = "That is far longer than a Coveo access token. Paste only the token."
TOKEN_AFTER_LINK = (
    ":warning: Do not type tokens after the command. If what you typed was a real token,"
    " consider it exposed and sign out of Coveo to revoke it."
)
TOKEN_IN_COMMAND = (
    ":warning: Do not type tokens after the command: use the form that just opened. If what you"
    " typed was a real token, consider it exposed and sign out of Coveo to revoke it."
)


def not_deletable(org_id: str, read_only: bool, life_cycle_state: str | None) -> str:
    """Refusal for an organization Coveo will not delete as it stands (no button offered)."""
    if life_cycle_state == "DELETING":
        return f"`{esc(org_id)}` is already being deleted by Coveo. Nothing to do."
    state = "paused" if life_cycle_state == "PAUSED" else "read-only"
    return (
        f"`{esc(org_id)}` is {state}, and Coveo cannot delete an organization in that state."
        " Reactivate it first: sign in to its Administration Console, which resumes a paused"
        " organization; an organization whose subscription ended stays read-only (contact"
        f" Coveo Support). Then run `{COMMAND} {esc(org_id)}` again. Nothing was deleted."
    )


def already_live(org_id: str, requester_id: str, channel_id: str, state: str) -> str:
    """A second request for an organization that already has a live card."""
    if state == "deleting":
        return (
            f"`{esc(org_id)}` is being deleted right now (requested by <@{requester_id}> in"
            f" <#{channel_id}>); its thread will have the outcome. No second card was created."
        )
    return (
        f"`{esc(org_id)}` already has a pending deletion card, requested by <@{requester_id}> in"
        f" <#{channel_id}>. Use that card (or wait for it to expire); no second card was created."
    )


def card_not_posted(error: str, *, transient: bool = False) -> str:
    """The preview card could be posted neither in the channel nor through the response_url."""
    head = f"Slack would not show the confirmation card here (`{esc(error)}`). Nothing was deleted."
    if transient:
        advice = "Slack is busy or rate limiting; run the command again in a minute."
    elif error == "is_archived":
        advice = f"This channel is archived; run `{COMMAND}` in an active channel."
    elif error in ("not_in_channel", "channel_not_found") or error.startswith("response_url"):
        advice = (
            f"Invite the app to this channel (`/invite @delete-org-bot`) or run `{COMMAND}` in a"
            " channel where it is a member."
        )
    else:
        advice = "Tell your Slack admins this error code; running the command again may help."
    return f"{head} {advice}"


def not_pending(state: str, org_id: str) -> str:
    """A click on a card that is no longer waiting for a decision."""
    words = {
        "deleting": "is already being deleted",
        "awaiting_approval": "is waiting for a second approver",
        "rejected": "was rejected by an approver; nothing was deleted",
        "deleted": "was already deleted",
        "failed": "already failed to delete (see the thread)",
        "unknown": "already ended with an unknown outcome (see the thread)",
        "cancelled": "was cancelled; nothing was deleted",
        "expired": "expired; nothing was deleted",
    }
    return f"This request for `{esc(org_id)}` {words.get(state, state)}."


SELF_APPROVAL = (
    "You cannot approve (or reject) your own deletion request: someone else among the approvers"
    " must. You can withdraw it instead."
)
REASON_REQUIRED = "A reason is required for this organization; nothing was deleted. Confirm again."


def not_an_approver(approvers: str) -> str:
    """Someone outside the approvers clicked Approve or Reject."""
    return f"Only approvers ({approvers}) can approve or reject this deletion. Nothing changed."


def typed_mismatch(org_id: str) -> str:
    """The typed confirmation did not match exactly."""
    return (
        f"What you typed does not match `{esc(org_id)}` exactly, so nothing was deleted. Type"
        " the organization ID character for character (no spaces, same case)."
    )


def approval_expired(org_id: str) -> str:
    """An approval click after the approval deadline."""
    return (
        f"The approval window for `{esc(org_id)}` closed before this click; nothing was deleted."
        f" The requester can run `{COMMAND} {esc(org_id)}` again."
    )


def expired_at_click(org_id: str) -> str:
    """A Confirm click that arrived after the deadline."""
    return (
        f"This confirmation card expired before your click, so `{esc(org_id)}` was *not*"
        f" deleted. Run `{COMMAND} {esc(org_id)}` again for a fresh card."
    )


def link_problem_at_confirm(reason: str) -> str:
    """The requester's link vanished or broke between the card and the click."""
    return f"Not deleted: {reason} Link your token again and request a new card."


def _duration(seconds: int) -> str:
    """``25 minutes`` for whole minutes, else ``90 seconds``."""
    if seconds >= 60 and seconds % 60 == 0:
        return plural(seconds // 60, "minute")
    return plural(seconds, "second")


def shortened_card_note(capped: int, requested: int) -> str:
    """The line on a card posted through the command's response_url whose deadline was brought
    forward (``capped`` instead of ``requested`` seconds) so its end still reaches the card."""
    return (
        f":hourglass_flowing_sand: This card expires in {_duration(capped)}, not"
        f" {_duration(requested)}: the app is not in this channel, so Slack only lets it update"
        " the card for 30 minutes. Invite the app (`/invite @delete-org-bot`) to keep cards"
        " longer."
    )


def shortened_approval_note(capped: int, requested: int) -> str:
    """The line in the thread of a response_url card whose approval window was shortened
    (``capped`` instead of ``requested`` seconds) so its end still reaches the card."""
    return (
        f":hourglass_flowing_sand: Approvers have {_duration(capped)}, not"
        f" {_duration(requested)}: the app is not in this channel, so Slack only lets it update"
        " the card for 30 minutes after a click. Invite the app (`/invite @delete-org-bot`) to"
        " keep cards longer."
    )


def card_unreachable(org_id: str, channel_id: str, error: str, outcome: str) -> str:
    """The direct message to a requester when neither the card nor its thread can be reached
    any more (``error`` is the last Slack error), with the outcome they would have seen."""
    if error.startswith("response_url_"):
        why = (
            "the app is not in that channel and Slack's link to the card no longer works (it"
            " lasts 30 minutes and 5 messages)"
        )
    else:
        why = f"Slack said `{esc(error)}`"
    return (
        f"Your deletion card for `{esc(org_id)}` in <#{channel_id}> could not be updated: {why}."
        f" Its buttons may still show, but they no longer do anything.\n*Outcome:* {outcome}"
    )
