"""Guardrails as code: the deletion policy file, validated and applied (issue 4).

A TOML file (see ``policy.example.toml``) narrows who may request deletions, where, which
organizations can never be deleted through the app, which ones need the requester to type the
organization ID or a second approver, how many deletions may happen per hour and day, and who
may freeze the app. The effective authority of a person is the intersection of this policy and
their own Coveo privileges, which Coveo checks when the ``DELETE`` is sent.

This module is pure logic: it never calls Slack or the database. Callers pass the Slack user
group memberships they looked up. Every refusal is a :class:`Decision` naming the rule that
refused and a sentence telling the person what they can do.

Validation is strict on purpose: an unknown table or key, a name where an immutable Slack ID is
expected, a wrong type or an out-of-range number is an error, so a typo can never silently
weaken the policy. :func:`load_policy` reports every problem at once. :class:`PolicyHolder`
reloads the file when it changes and keeps the previous policy when the new one is invalid.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import os
import re
import threading
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from bot.logfields import log_fields
from bot.orgid import MAX_ORG_ID_LENGTH, ORG_ID_PATTERN

logger = logging.getLogger(__name__)

DEFAULT_SOURCE = "built-in default"
""":attr:`Policy.source` of :func:`default_policy`."""

DEFAULT_APPROVAL_TIMEOUT = 600
"""Seconds a second approver has to approve when ``approval_timeout`` is not set."""

MIN_APPROVAL_TIMEOUT = 60
"""Smallest accepted ``second_approver.approval_timeout``, in seconds."""

MAX_APPROVAL_TIMEOUT = 86400
"""Largest accepted ``second_approver.approval_timeout``, in seconds (one day)."""

DEFAULT_TYPED_CONFIRMATION_TYPES = ("production",)
"""Organization types that need a typed confirmation when ``[typed_confirmation]`` is absent."""

DEFAULT_TYPED_CONFIRMATION_PRODUCT_TYPES = ("STANDARD", "SALES")
"""License product types (Coveo's production license kinds) that need a typed confirmation when
``[typed_confirmation]`` is absent."""

USER_ID_PATTERN = re.compile(r"[UW][A-Z0-9]{2,}", re.ASCII)
"""A Slack user ID (full match)."""

USERGROUP_ID_PATTERN = re.compile(r"S[A-Z0-9]{2,}", re.ASCII)
"""A Slack user group ID (full match)."""

CHANNEL_ID_PATTERN = re.compile(r"[CG][A-Z0-9]{2,}", re.ASCII)
"""A Slack channel ID (full match); direct messages (``D…``) are governed separately."""

_DM_ID_PATTERN = re.compile(r"D[A-Z0-9]{2,}", re.ASCII)
_ID_KINDS = (
    (USER_ID_PATTERN, "a user ID"),
    (USERGROUP_ID_PATTERN, "a user group ID"),
    (CHANNEL_ID_PATTERN, "a channel ID"),
)

_SCHEMA: dict[str, tuple[str, ...]] = {
    "requesters": ("users", "usergroups"),
    "channels": ("allow", "allow_direct_messages"),
    "admins": ("users", "usergroups"),
    "protected": ("ids", "patterns"),
    "typed_confirmation": ("ids", "patterns", "types", "product_types"),
    "second_approver": (
        "ids",
        "patterns",
        "types",
        "product_types",
        "approver_users",
        "approver_usergroups",
        "approval_timeout",
    ),
    "caps": ("per_user_per_hour", "per_user_per_day", "global_per_hour", "global_per_day"),
}

# Bracket expressions of a glob; whatever is left outside them must be able to match an
# organization ID (lowercase letters, digits, hyphens) or be a wildcard.
_GLOB_BRACKET = re.compile(r"\[[^\]]*\]")
_GLOB_OUTSIDE = re.compile(r"[a-z0-9*?-]*", re.ASCII)

_USER_HINT = (
    "a Slack user ID (U… or W…) is needed, not a name or @handle: open the person's profile, "
    "⋮ → Copy member ID"
)
_USERGROUP_HINT = (
    "a Slack user group ID (S…) is needed, not a @handle or name: it is in the user group's "
    "page URL, or in the usergroups.list API"
)
_CHANNEL_HINT = (
    "a Slack channel ID (C… or G…) is needed, not a #name: open the channel details, the ID is "
    "at the bottom of the About tab"
)


class PolicyError(Exception):
    """The policy file cannot be used. ``problems`` lists every problem found, each
    ``"section.key: what is wrong"`` (or ``"<file>: …"`` for the file as a whole)."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        where = f" {source}" if source else ""
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid deletion policy{where}:\n{lines}")


@dataclass(frozen=True)
class OrgFacts:
    """What the policy looks at in an organization: its ID, ``OrganizationModel.type`` and
    ``license.productType`` (both ``None`` when Coveo did not say)."""

    id: str
    type: str | None = None
    product_type: str | None = None


@dataclass(frozen=True)
class Decision:
    """The answer to a check.

    ``rule`` names the rule that decided (``"channels.allow"``,
    ``'protected.patterns "*-prod"'``, ``"requesters.users"``, ``"built-in default"``…), or is
    ``None`` when no rule applied. ``reason`` is one plain sentence for the person refused: what
    refused and what they can do; it is ``""`` when allowed.
    """

    allowed: bool
    rule: str | None
    reason: str


@dataclass(frozen=True)
class Caps:
    """Maximum deletions (successful or attempted) per window; ``None`` means no limit."""

    per_user_per_hour: int | None = None
    per_user_per_day: int | None = None
    global_per_hour: int | None = None
    global_per_day: int | None = None

    @property
    def limited(self) -> bool:
        """True when at least one cap is set."""
        return any(
            value is not None
            for value in (
                self.per_user_per_hour,
                self.per_user_per_day,
                self.global_per_hour,
                self.global_per_day,
            )
        )


@dataclass(frozen=True)
class Members:
    """Slack users and user groups named by one part of the policy, in file order.

    ``users_key`` and ``usergroups_key`` are the file keys they came from (for example
    ``"requesters.users"``), used to name the rule that matched.
    """

    users_key: str
    usergroups_key: str
    users: tuple[str, ...] = ()
    usergroups: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nobody is named."""
        return not self.users and not self.usergroups

    def match(self, user_id: str, groups: frozenset[str]) -> str | None:
        """The rule that names ``user_id`` (directly, or through one of ``groups``), or None."""
        if user_id in self.users:
            return self.users_key
        for group in self.usergroups:
            if group in groups:
                return f'{self.usergroups_key} "{group}"'
        return None


@dataclass(frozen=True)
class OrgMatcher:
    """Which organizations a section applies to: exact IDs, case-sensitive ``fnmatch`` globs on
    the ID, and organization types and license product types compared case-insensitively."""

    section: str
    ids: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    product_types: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when no organization can match."""
        return not (self.ids or self.patterns or self.types or self.product_types)

    def match(self, org: OrgFacts) -> str | None:
        """The first rule matching ``org``, e.g. ``'protected.patterns "*-prod"'``, or None."""
        if org.id in self.ids:
            return f'{self.section}.ids "{org.id}"'
        for pattern in self.patterns:
            if fnmatch.fnmatchcase(org.id, pattern):
                return f'{self.section}.patterns "{pattern}"'
        if org.type is not None:
            wanted = org.type.casefold()
            for kind in self.types:
                if kind.casefold() == wanted:
                    return f'{self.section}.types "{kind}"'
        if org.product_type is not None:
            wanted = org.product_type.casefold()
            for kind in self.product_types:
                if kind.casefold() == wanted:
                    return f'{self.section}.product_types "{kind}"'
        return None


@dataclass(frozen=True)
class Policy:
    """A validated deletion policy. Build one with :func:`load_policy`, :func:`parse_policy`
    or :func:`default_policy`.

    ``channels_allow`` is ``None`` when any channel is allowed. ``requesters`` empty means
    everyone with a valid link may request. ``approvers`` are the second approvers named in
    ``[second_approver]``, whose organizations are ``second_approver``.
    """

    source: str
    requesters: Members
    channels_allow: tuple[str, ...] | None
    allow_direct_messages: bool
    admins: Members
    protected: OrgMatcher
    typed_confirmation: OrgMatcher
    second_approver: OrgMatcher
    approvers: Members
    caps: Caps
    approval_timeout: int

    def usergroups(self) -> frozenset[str]:
        """Every Slack user group ID the policy mentions (the groups whose members to look up)."""
        return frozenset(
            self.requesters.usergroups + self.admins.usergroups + self.approvers.usergroups
        )

    def _requester_rule(self, user_id: str, groups: frozenset[str]) -> str | None:
        if self.requesters.empty:
            return DEFAULT_SOURCE if self.source == DEFAULT_SOURCE else "requesters (everyone)"
        return self.requesters.match(user_id, groups)

    def check_requester(self, user_id: str, groups: frozenset[str], channel_id: str) -> Decision:
        """May ``user_id`` (member of ``groups``) request a deletion in ``channel_id``?

        Checks ``[requesters]`` then ``[channels]``; a ``D…`` channel is a direct message with
        the app and is governed by ``channels.allow_direct_messages`` alone. When allowed, the
        rule names what admitted the requester.
        """
        rule = self._requester_rule(user_id, groups)
        if rule is None:
            return Decision(
                allowed=False,
                rule="requesters",
                reason=(
                    "You are not among the people the deletion policy allows to request "
                    "deletions, so ask the maintainers of the app's policy to add you to "
                    "[requesters] (`/delete-org policy` shows who may)."
                ),
            )
        if _is_direct_message(channel_id):
            if not self.allow_direct_messages:
                return Decision(
                    allowed=False,
                    rule="channels.allow_direct_messages",
                    reason=(
                        "The deletion policy does not allow requests in direct messages with "
                        f"the app, so run the command {self._where_channels()}."
                    ),
                )
        elif self.channels_allow is not None and channel_id not in self.channels_allow:
            return Decision(
                allowed=False,
                rule="channels.allow",
                reason=(
                    "The deletion policy does not allow requests in this channel, so run the "
                    f"command {self._where_allowed()}."
                ),
            )
        return Decision(allowed=True, rule=rule, reason="")

    def _where_channels(self) -> str:
        if self.channels_allow is None:
            return "in a channel"
        if not self.channels_allow:
            return "nowhere (ask the policy maintainers)"
        return "in " + _or_list([_channel(c) for c in self.channels_allow])

    def _where_allowed(self) -> str:
        places: list[str] = []
        if self.channels_allow:
            places.append("in " + ", ".join(_channel(c) for c in self.channels_allow))
        if self.allow_direct_messages:
            places.append("in a direct message with the app")
        return " or ".join(places) if places else "nowhere (ask the policy maintainers)"

    def check_protected(self, org: OrgFacts) -> Decision:
        """Refused when ``org`` is protected; the rule names the exact ID or pattern."""
        rule = self.protected.match(org)
        if rule is None:
            return Decision(allowed=True, rule=None, reason="")
        return Decision(
            allowed=False,
            rule=rule,
            reason=(
                f"Organization `{_esc(org.id)}` is protected by the deletion policy ({rule}) "
                "and cannot be deleted through this app, so if it really must go, ask the "
                "maintainers of the policy to change it."
            ),
        )

    def typed_confirmation_rule(self, org: OrgFacts) -> str | None:
        """The rule that makes ``org`` need a typed confirmation of its ID, or None."""
        return self.typed_confirmation.match(org)

    def approval_rule(self, org: OrgFacts) -> str | None:
        """The rule that makes ``org`` need a second approver, or None."""
        return self.second_approver.match(org)

    def is_admin(self, user_id: str, groups: frozenset[str]) -> bool:
        """True when ``user_id`` (member of ``groups``) may freeze and unfreeze the app."""
        return self.admins.match(user_id, groups) is not None

    def is_approver(self, user_id: str, groups: frozenset[str]) -> bool:
        """True when ``user_id`` (member of ``groups``) is a second approver.

        Membership only: the caller must still refuse a requester approving their own request.
        """
        return self.approvers.match(user_id, groups) is not None

    def describe_for(self, user_id: str, groups: frozenset[str], channel_id: str) -> str:
        """Slack mrkdwn for ``/delete-org policy``: what this caller may do, where, and why not.

        Covers requester status, channels (and whether here is allowed), protected
        organizations, typed confirmation, second approval and its approvers, caps, and whether
        the caller is an admin. IDs are written as Slack mentions.
        """
        lines = [f"*Deletion policy* ({_esc(self.source)})"]
        lines.append("• *Requesting:* " + self._describe_requester(user_id, groups))
        lines.append("• *Where:* " + self._describe_where(channel_id))
        lines.append("• *Protected* (never deletable through this app): " + self._protected())
        lines.append("• *Typed confirmation:* " + self._describe_typed())
        lines.append("• *Second approver:* " + self._describe_approval(user_id, groups))
        lines.append("• *Limits:* " + self._describe_caps())
        lines.append("• *Admins* (freeze and unfreeze): " + self._describe_admin(user_id, groups))
        lines.append(
            "_This policy only narrows what the app allows: deleting also needs the "
            "Organization - Edit privilege in Coveo, checked with your own token._"
        )
        return "\n".join(lines)

    def _describe_requester(self, user_id: str, groups: frozenset[str]) -> str:
        if self.requesters.empty:
            return "anyone with a linked Coveo account may request deletions, including you."
        rule = self.requesters.match(user_id, groups)
        who = _members_text(self.requesters)
        if rule is None:
            return (
                f"you may *not* request deletions: only {who} may "
                "(ask the policy maintainers to add you to [requesters])."
            )
        return f"you may request deletions ({rule}); requesters are {who}."

    def _describe_where(self, channel_id: str) -> str:
        if self.channels_allow is None:
            text = "any channel"
        elif self.channels_allow:
            text = "only " + _and_list([_channel(c) for c in self.channels_allow])
        else:
            text = "no channel"
        dms = "allowed" if self.allow_direct_messages else "not allowed"
        text += f"; direct messages with the app are {dms}."
        if _is_direct_message(channel_id):
            here = self.allow_direct_messages
            rule = "channels.allow_direct_messages"
        else:
            here = self.channels_allow is None or channel_id in self.channels_allow
            rule = "channels.allow"
        if here:
            text += " You may use the command here."
        else:
            text += f" *Not here* ({rule}): use it {self._where_allowed()}."
        return text

    def _protected(self) -> str:
        return _matcher_text(self.protected) or "none."

    def _describe_typed(self) -> str:
        matched = _matcher_text(self.typed_confirmation)
        if not matched:
            return "not required for any organization; Confirm deletes at once."
        return (
            "Confirm opens a form where you type the organization ID exactly, for any "
            f"organization with: {matched}"
        )

    def _describe_approval(self, user_id: str, groups: frozenset[str]) -> str:
        matched = _matcher_text(self.second_approver)
        if not matched:
            return "not required for any organization."
        text = (
            f"after you confirm, {_or_list(_members_list(self.approvers))} must approve "
            f"within {_duration(self.approval_timeout)}, for any organization with: {matched}"
        )
        if self.is_approver(user_id, groups):
            text += " You are an approver (not of your own requests)."
        else:
            text += " You are not an approver."
        return text

    def _describe_caps(self) -> str:
        caps = self.caps
        if not caps.limited:
            return "no limit on the number of deletions."
        parts: list[str] = []
        for value, text in (
            (caps.per_user_per_hour, "per person per hour"),
            (caps.per_user_per_day, "per person per day"),
            (caps.global_per_hour, "per hour for everyone together"),
            (caps.global_per_day, "per day for everyone together"),
        ):
            if value is not None:
                parts.append(f"{value} {text}")
        return "at most " + ", ".join(parts) + " (attempts count, successful or not)."

    def _describe_admin(self, user_id: str, groups: frozenset[str]) -> str:
        if self.admins.empty:
            return "none are named, so freezing the app is unavailable."
        who = _members_text(self.admins)
        if self.is_admin(user_id, groups):
            return f"you are an admin and may freeze and unfreeze the app; admins are {who}."
        return f"you are not an admin; admins are {who}."


def default_policy() -> Policy:
    """The policy without a file: everyone with a valid link may request, in any channel and
    in direct messages; nothing is protected; typed confirmation for type ``production`` and
    license product types ``STANDARD`` and ``SALES``; no second approver; no caps; no admins
    (so freezing is unavailable until a file names admins)."""
    return Policy(
        source=DEFAULT_SOURCE,
        requesters=Members("requesters.users", "requesters.usergroups"),
        channels_allow=None,
        allow_direct_messages=True,
        admins=Members("admins.users", "admins.usergroups"),
        protected=OrgMatcher("protected"),
        typed_confirmation=OrgMatcher(
            "typed_confirmation",
            types=DEFAULT_TYPED_CONFIRMATION_TYPES,
            product_types=DEFAULT_TYPED_CONFIRMATION_PRODUCT_TYPES,
        ),
        second_approver=OrgMatcher("second_approver"),
        approvers=Members("second_approver.approver_users", "second_approver.approver_usergroups"),
        caps=Caps(),
        approval_timeout=DEFAULT_APPROVAL_TIMEOUT,
    )


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file at ``path``.

    Raises :class:`PolicyError` listing every problem at once, including an unreadable file or
    a TOML syntax error (with its line and column).
    """
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise PolicyError([f"{source}: cannot read the file: {reason}"], source) from error
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError([f"{source}: not UTF-8 text (byte {error.start})"], source) from error
    return parse_policy(text, source)


def parse_policy(text: str, source: str) -> Policy:
    """Validate policy TOML ``text``; ``source`` names it in :attr:`Policy.source` and errors.

    An absent table keeps the built-in default of that part (``[typed_confirmation]`` absent
    keeps the default typed confirmation; present, it says exactly which organizations need
    one). Raises :class:`PolicyError` listing every problem.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError([f"{source}: TOML syntax error: {error}"], source) from error
    reader = _Reader(data)
    policy = reader.policy(source)
    if reader.problems or policy is None:
        raise PolicyError(reader.problems, source)
    return policy


class PolicyHolder:
    """The current policy for a running app, reloaded when its file changes.

    With ``path`` None the built-in default is used for good. Otherwise the file is loaded at
    once and an invalid file raises :class:`PolicyError` (start-up must fail loudly). Later, an
    invalid version is rejected and the previous policy kept. Thread-safe.

    Replace the file atomically (write a temporary file, then rename it over the old one): a
    file that changes while it is being read is ignored until it is stable.
    """

    def __init__(
        self, path: Path | None, *, loader: Callable[[Path], Policy] = load_policy
    ) -> None:
        self._path = path
        self._loader = loader
        self._lock = threading.Lock()
        self._seen: _Stamp | None = None
        if path is None:
            self._policy = default_policy()
        else:
            self._seen = _file_stamp(path)
            self._policy = loader(path)

    @property
    def path(self) -> Path | None:
        """The policy file, or None when the built-in default is used."""
        return self._path

    def current(self) -> Policy:
        """The policy in force. Cheap: one ``stat`` of the file.

        When the file's (mtime_ns, size, inode) changed since it was last looked at, it is
        reloaded: a valid version replaces the policy (logged at INFO); an invalid or missing
        one is logged at ERROR once per change and the previous policy is kept.
        """
        if self._path is None:
            return self._policy
        stamp = _file_stamp(self._path)
        with self._lock:
            if stamp == self._seen:
                return self._policy
            if stamp is None:
                self._seen = None
                logger.error(
                    "policy file %s is missing or unreadable; keeping the previous policy",
                    self._path,
                    extra=log_fields("policy_unreadable"),
                )
                return self._policy
            self._load_locked(stamp)
            return self._policy

    def reload(self) -> bool:
        """Load the file now (for SIGHUP), changed or not.

        True when a valid version was loaded and is now in force; False when there is no file
        or it was invalid (logged at ERROR; the previous policy is kept).
        """
        if self._path is None:
            return False
        with self._lock:
            for _ in range(3):
                stamp = _file_stamp(self._path)
                loaded = self._load_locked(stamp, force=True)
                if loaded is not None:
                    return loaded
            return False

    def _load_locked(self, stamp: _Stamp | None, *, force: bool = False) -> bool | None:
        """Load the file seen with ``stamp``; None when it changed while being read."""
        assert self._path is not None
        try:
            policy = self._loader(self._path)
        except PolicyError as error:
            if not force and _file_stamp(self._path) != stamp:
                return None  # being written: look again at the next call
            self._seen = stamp
            logger.error(
                "policy file %s rejected, keeping the previous policy (%s): %s",
                self._path,
                self._policy.source,
                "; ".join(error.problems),
                extra=log_fields("policy_rejected"),
            )
            return False
        if _file_stamp(self._path) != stamp:
            return None
        self._seen = stamp
        self._policy = policy
        logger.info("policy reloaded from %s", self._path, extra=log_fields("policy_reloaded"))
        return True


_Stamp = tuple[int, int, int]


def _file_stamp(path: Path) -> _Stamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


# -- validation ---------------------------------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date | time):
        return "a date or time"
    return type(value).__name__


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Reader:
    """Collects every problem of a parsed TOML document while building the policy."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def check_structure(self) -> None:
        """Unknown tables and keys, and sections that are not tables, are problems."""
        for name, value in self.data.items():
            if name not in _SCHEMA:
                if isinstance(value, dict):
                    self.problem(f"{name}: unknown table{_suggest(name, _SCHEMA)}")
                else:
                    keys = [key for keys in _SCHEMA.values() for key in keys]
                    self.problem(
                        f"{name}: unknown top-level key{_suggest(name, keys)}; every setting "
                        "belongs in a table such as [requesters]"
                    )
                continue
            if not isinstance(value, dict):
                self.problem(f"{name}: must be a table [{name}], got {_kind(value)}")
                continue
            allowed = _SCHEMA[name]
            for key in value:
                if key not in allowed:
                    self.problem(
                        f"{name}.{key}: unknown key{_suggest(key, allowed)}; "
                        f"[{name}] accepts {', '.join(allowed)}"
                    )

    def policy(self, source: str) -> Policy | None:
        self.check_structure()
        default = default_policy()
        requesters = self.members("requesters", "users", "usergroups")
        admins = self.members("admins", "users", "usergroups")
        channels = self.table("channels")
        allow = self.id_list("channels", channels, "allow", CHANNEL_ID_PATTERN, _CHANNEL_HINT)
        dms = self.boolean("channels", channels, "allow_direct_messages", default=True)
        if allow == () and dms is False:
            self.problem(
                "channels.allow: empty while allow_direct_messages = false, so the command "
                "would work nowhere (use freeze to stop deletions)"
            )
        protected = self.matcher("protected")
        if "typed_confirmation" in self.data:
            typed = self.matcher("typed_confirmation")
        else:
            typed = default.typed_confirmation
        before = len(self.problems)
        second = self.matcher("second_approver")
        matchers_valid = len(self.problems) == before
        before = len(self.problems)
        approvers = self.members("second_approver", "approver_users", "approver_usergroups")
        approvers_valid = len(self.problems) == before
        table = self.table("second_approver")
        timeout = self.integer(
            "second_approver",
            table,
            "approval_timeout",
            MIN_APPROVAL_TIMEOUT,
            MAX_APPROVAL_TIMEOUT,
        )
        # An invalid item is already reported: do not also report its list as empty.
        if not second.empty and approvers.empty and approvers_valid:
            self.problem(
                "second_approver.approver_users: no approver is named (approver_users and "
                "approver_usergroups are empty), but ids/patterns/types/product_types make "
                "some organizations need a second approver, so nobody could approve them"
            )
        if second.empty and not approvers.empty and matchers_valid:
            self.problem(
                "second_approver.ids: approvers are named but no ids, patterns, types or "
                'product_types say which organizations need them (patterns = ["*"] means all)'
            )
        caps_table = self.table("caps")
        caps = Caps(
            **{key: self.integer("caps", caps_table, key, 1, None) for key in _SCHEMA["caps"]}
        )
        if self.problems:
            return None
        return Policy(
            source=source,
            requesters=requesters,
            channels_allow=allow,
            allow_direct_messages=bool(dms),
            admins=admins,
            protected=protected,
            typed_confirmation=typed,
            second_approver=second,
            approvers=approvers,
            caps=caps,
            approval_timeout=DEFAULT_APPROVAL_TIMEOUT if timeout is None else timeout,
        )

    def table(self, section: str) -> Mapping[str, Any]:
        """The table ``section``, or an empty one when absent or not a table."""
        value = self.data.get(section, {})
        return value if isinstance(value, dict) else {}

    def members(self, section: str, users_key: str, groups_key: str) -> Members:
        table = self.table(section)
        users = self.id_list(section, table, users_key, USER_ID_PATTERN, _USER_HINT)
        groups = self.id_list(section, table, groups_key, USERGROUP_ID_PATTERN, _USERGROUP_HINT)
        return Members(
            f"{section}.{users_key}", f"{section}.{groups_key}", users or (), groups or ()
        )

    def matcher(self, section: str) -> OrgMatcher:
        table = self.table(section)
        keys = _SCHEMA[section]
        ids = self.strings(section, table, "ids", self.check_org_id)
        patterns = self.strings(section, table, "patterns", self.check_pattern)
        types = self.strings(section, table, "types", self.check_label) if "types" in keys else ()
        product_types = (
            self.strings(section, table, "product_types", self.check_label)
            if "product_types" in keys
            else ()
        )
        return OrgMatcher(section, ids or (), patterns or (), types or (), product_types or ())

    def strings(
        self,
        section: str,
        table: Mapping[str, Any],
        key: str,
        check: Callable[[str], str | None],
    ) -> tuple[str, ...] | None:
        """The array of strings at ``key`` (None when absent), each passed through ``check``,
        which returns what is wrong with one item or None."""
        if key not in table:
            return None
        value = table[key]
        name = f"{section}.{key}"
        if not isinstance(value, list):
            self.problem(f"{name}: must be an array of strings, got {_kind(value)}")
            return None
        items: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.problem(f"{name}: item {index + 1} must be a string, got {_kind(item)}")
                continue
            wrong = check(item)
            if wrong is not None:
                self.problem(f'{name}: "{item}" {wrong}')
                continue
            if item not in items:
                items.append(item)
        return tuple(items)

    def id_list(
        self,
        section: str,
        table: Mapping[str, Any],
        key: str,
        pattern: re.Pattern[str],
        hint: str,
    ) -> tuple[str, ...] | None:
        def check(item: str) -> str | None:
            if pattern.fullmatch(item):
                return None
            if pattern is CHANNEL_ID_PATTERN and _DM_ID_PATTERN.fullmatch(item):
                return (
                    "is a direct message, not a channel: direct messages are allowed or not "
                    "with channels.allow_direct_messages"
                )
            for other, what in _ID_KINDS:
                if other is not pattern and other.fullmatch(item):
                    return f"is {what}, not the kind of ID this key needs: {hint}"
            return f"is not an ID: {hint}"

        return self.strings(section, table, key, check)

    @staticmethod
    def check_org_id(item: str) -> str | None:
        if ORG_ID_PATTERN.fullmatch(item) and len(item) <= MAX_ORG_ID_LENGTH:
            return None
        return (
            "is not an organization ID (lowercase letters, digits and hyphens, starting and "
            f"ending with a letter or digit, at most {MAX_ORG_ID_LENGTH} characters)"
        )

    @staticmethod
    def check_pattern(item: str) -> str | None:
        if not item:
            return "is empty: a pattern must not be empty"
        outside = _GLOB_BRACKET.sub("", item)
        if not _GLOB_OUTSIDE.fullmatch(outside):
            return (
                "can never match an organization ID: IDs have only lowercase letters, digits "
                "and hyphens, and patterns are case-sensitive globs (*, ?, [abc])"
            )
        return None

    @staticmethod
    def check_label(item: str) -> str | None:
        if not item.strip():
            return "is empty"
        if item != item.strip():
            return "has surrounding spaces, so it would never match"
        return None

    def boolean(
        self, section: str, table: Mapping[str, Any], key: str, *, default: bool
    ) -> bool | None:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            self.problem(f"{section}.{key}: must be true or false, got {_kind(value)}")
            return None
        return value

    def integer(
        self,
        section: str,
        table: Mapping[str, Any],
        key: str,
        low: int,
        high: int | None,
    ) -> int | None:
        if key not in table:
            return None
        value = table[key]
        name = f"{section}.{key}"
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(f"{name}: must be an integer, got {_kind(value)}")
            return None
        if high is None and value < low:
            self.problem(
                f"{name}: must be at least {low}, got {value} (leave the key out for no limit)"
            )
            return None
        if high is not None and not low <= value <= high:
            self.problem(f"{name}: must be between {low} and {high}, got {value}")
            return None
        return value


# -- text helpers -------------------------------------------------------------------------------


def _is_direct_message(channel_id: str) -> bool:
    return channel_id.startswith("D")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _channel(channel_id: str) -> str:
    return f"<#{channel_id}>"


def _members_list(members: Members) -> list[str]:
    return [f"<@{user}>" for user in members.users] + [
        f"a member of <!subteam^{group}>" for group in members.usergroups
    ]


def _members_text(members: Members) -> str:
    return _and_list(
        [f"<@{user}>" for user in members.users]
        + [f"members of <!subteam^{group}>" for group in members.usergroups]
    )


def _join(items: list[str], word: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def _and_list(items: list[str]) -> str:
    return _join(items, "and")


def _or_list(items: list[str]) -> str:
    return _join(items, "or")


def _matcher_text(matcher: OrgMatcher) -> str:
    """E.g. ``"IDs matching `*-prod`; type Production."``, or ``""`` when nothing matches."""
    parts: list[str] = []
    if matcher.ids:
        parts.append("organization " + ", ".join(f"`{i}`" for i in matcher.ids))
    if matcher.patterns:
        parts.append("IDs matching " + ", ".join(f"`{p}`" for p in matcher.patterns))
    if matcher.types:
        parts.append("type " + ", ".join(_esc(t) for t in matcher.types))
    if matcher.product_types:
        parts.append("license product type " + ", ".join(_esc(t) for t in matcher.product_types))
    return "; ".join(parts) + "." if parts else ""


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"
