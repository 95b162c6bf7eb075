"""The deletion policy (guardrails as code): parsing, validation, rules, reloads, description."""

from __future__ import annotations

import logging
import os
import re
import textwrap
import threading
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from bot.policy import (
    DEFAULT_SOURCE,
    Caps,
    Decision,
    OrgFacts,
    Policy,
    PolicyError,
    PolicyHolder,
    default_policy,
    load_policy,
    parse_policy,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "policy.example.toml"

ALICE = "U0ALICE0001"
BOB = "U0BOB000001"
CAROL = "U0CAROL0001"
DAVE = "U0DAVE00001"
DBAS = "S0DBAS0001"
APPROVERS = "S0APPROVE01"
GENERAL = "C0GENERAL01"
RANDOM = "C0RANDOM001"
DM = "D0ALICEDM01"
NO_GROUPS: frozenset[str] = frozenset()

SCHEMA = {
    "requesters": {"users", "usergroups"},
    "channels": {"allow", "allow_direct_messages"},
    "admins": {"users", "usergroups"},
    "protected": {"ids", "patterns"},
    "typed_confirmation": {"ids", "patterns", "types", "product_types"},
    "second_approver": {
        "ids",
        "patterns",
        "types",
        "product_types",
        "approver_users",
        "approver_usergroups",
        "approval_timeout",
    },
    "caps": {"per_user_per_hour", "per_user_per_day", "global_per_hour", "global_per_day"},
}


def parse(text: str) -> Policy:
    return parse_policy(textwrap.dedent(text), "test.toml")


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse(text)
    return caught.value.problems


def write(path: Path, text: str, *, mtime_ns: int | None = None) -> Path:
    """Replace ``path`` atomically, optionally with a given mtime (so a change is always seen)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(textwrap.dedent(text))
    if mtime_ns is not None:
        os.utime(temporary, ns=(mtime_ns, mtime_ns))
    os.replace(temporary, path)
    return path


# -- the example file ----------------------------------------------------------------------------


def test_example_file_loads_with_every_table_and_key() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.source == str(EXAMPLE)
    data = tomllib.loads(EXAMPLE.read_text())
    assert {section: set(keys) for section, keys in data.items()} == SCHEMA


def test_example_file_documents_every_key_with_a_comment() -> None:
    lines = EXAMPLE.read_text().splitlines()
    keys = {key for keys in SCHEMA.values() for key in keys}
    for number, line in enumerate(lines):
        match = re.match(r"(\w+) = ", line)
        if match is None:
            continue
        assert match.group(1) in keys
        documented = "#" in line or lines[number - 1].startswith("#")
        assert documented, f"line {number + 1} has no comment: {line}"
    for section in SCHEMA:
        above = lines[lines.index(f"[{section}]") - 1]
        assert above.startswith("#"), f"[{section}] has no comment above it"
    assert "Worked example" in EXAMPLE.read_text()


def test_example_file_worked_example_holds() -> None:
    policy = load_policy(EXAMPLE)
    # Carol is neither listed nor in the DBA group.
    refused = policy.check_requester(CAROL, NO_GROUPS, GENERAL)
    assert (refused.allowed, refused.rule) == (False, "requesters")
    # Alice in #random: wrong channel; #general or a DM are fine.
    assert policy.check_requester(ALICE, NO_GROUPS, RANDOM).rule == "channels.allow"
    assert policy.check_requester(ALICE, NO_GROUPS, GENERAL).allowed
    assert policy.check_requester(ALICE, NO_GROUPS, DM).allowed
    # Bob through the DBA user group.
    assert policy.check_requester(BOB, frozenset({DBAS}), GENERAL) == Decision(
        True, f'requesters.usergroups "{DBAS}"', ""
    )
    # Protected organizations.
    assert policy.check_protected(OrgFacts("acme-prod")).rule == 'protected.patterns "*-prod"'
    assert policy.check_protected(OrgFacts("globexprod1")).rule == 'protected.ids "globexprod1"'
    # A Production organization: typed confirmation and a second approver.
    qa = OrgFacts("globex-qa2", type="Production", product_type="STANDARD")
    assert policy.check_protected(qa).allowed
    assert policy.typed_confirmation_rule(qa) == 'typed_confirmation.types "Production"'
    assert policy.approval_rule(qa) == 'second_approver.types "Production"'
    assert policy.is_approver(CAROL, frozenset({APPROVERS}))
    assert not policy.is_approver(BOB, frozenset({DBAS}))
    assert policy.approval_timeout == 900
    # A trial organization: Confirm deletes at once.
    trial = OrgFacts("sandbox-alice7", type="TRIAL", product_type="TRIAL")
    assert policy.typed_confirmation_rule(trial) is None
    assert policy.approval_rule(trial) is None
    assert policy.caps == Caps(3, 10, 10, 30)
    # Dave is an admin but not a requester.
    assert policy.is_admin(DAVE, NO_GROUPS)
    assert not policy.is_admin(ALICE, NO_GROUPS)
    assert not policy.check_requester(DAVE, NO_GROUPS, GENERAL).allowed
    assert policy.usergroups() == frozenset({DBAS, APPROVERS})


# -- the built-in default ------------------------------------------------------------------------


def test_default_policy_lets_anyone_request_anywhere() -> None:
    policy = default_policy()
    assert policy.source == DEFAULT_SOURCE
    for channel in (GENERAL, RANDOM, "G0PRIVATE01", DM):
        assert policy.check_requester(CAROL, NO_GROUPS, channel) == Decision(
            True, DEFAULT_SOURCE, ""
        )
    assert policy.usergroups() == frozenset()


def test_default_policy_protects_nothing_and_has_no_approver_caps_or_admins() -> None:
    policy = default_policy()
    org = OrgFacts("acme-prod", type="Production", product_type="STANDARD")
    assert policy.check_protected(org) == Decision(True, None, "")
    assert policy.approval_rule(org) is None
    assert policy.caps == Caps(None, None, None, None)
    assert not policy.caps.limited
    assert policy.approval_timeout == 600
    assert not policy.is_admin(ALICE, NO_GROUPS)
    assert not policy.is_approver(ALICE, NO_GROUPS)


@pytest.mark.parametrize(
    ("type_", "product_type", "rule"),
    [
        ("Production", None, 'typed_confirmation.types "production"'),
        ("PRODUCTION", "TRIAL", 'typed_confirmation.types "production"'),
        (None, "STANDARD", 'typed_confirmation.product_types "STANDARD"'),
        ("Sandbox", "sales", 'typed_confirmation.product_types "SALES"'),
        ("TRIAL", "TRIAL", None),
        ("Sandbox", "SANDBOX", None),
        (None, None, None),
    ],
)
def test_default_policy_typed_confirmation_for_production(
    type_: str | None, product_type: str | None, rule: str | None
) -> None:
    org = OrgFacts("someorg", type=type_, product_type=product_type)
    assert default_policy().typed_confirmation_rule(org) == rule


def test_empty_file_is_the_default_policy(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.toml", "# nothing\n")
    assert replace(load_policy(path), source=DEFAULT_SOURCE) == default_policy()


# -- requesters and channels ---------------------------------------------------------------------

REQUESTERS = f"""
[requesters]
users = ["{ALICE}", "W0GRIDUSER1"]
usergroups = ["{DBAS}"]
"""


@pytest.mark.parametrize(
    ("user", "groups", "rule"),
    [
        (ALICE, NO_GROUPS, "requesters.users"),
        ("W0GRIDUSER1", NO_GROUPS, "requesters.users"),
        (BOB, frozenset({DBAS}), f'requesters.usergroups "{DBAS}"'),
        (BOB, frozenset({"S0OTHER0001", DBAS}), f'requesters.usergroups "{DBAS}"'),
    ],
)
def test_requesters_by_user_or_group(user: str, groups: frozenset[str], rule: str) -> None:
    assert parse(REQUESTERS).check_requester(user, groups, GENERAL) == Decision(True, rule, "")


@pytest.mark.parametrize("groups", [NO_GROUPS, frozenset({"S0OTHER0001"})])
def test_requesters_refuse_everyone_else(groups: frozenset[str]) -> None:
    decision = parse(REQUESTERS).check_requester(CAROL, groups, GENERAL)
    assert (decision.allowed, decision.rule) == (False, "requesters")
    assert "/delete-org policy" in decision.reason
    assert decision.reason.count(".") >= 1 and "\n" not in decision.reason


@pytest.mark.parametrize("text", ["[requesters]\n", "[requesters]\nusers = []\nusergroups = []\n"])
def test_empty_requesters_means_everyone(text: str) -> None:
    decision = parse(text).check_requester(CAROL, NO_GROUPS, GENERAL)
    assert decision.allowed and decision.rule == "requesters (everyone)"


@pytest.mark.parametrize(
    ("channels", "channel", "rule"),
    [
        (f'allow = ["{GENERAL}"]', GENERAL, None),
        (f'allow = ["{GENERAL}", "G0PRIVATE01"]', "G0PRIVATE01", None),
        (f'allow = ["{GENERAL}"]', RANDOM, "channels.allow"),
        (f'allow = ["{GENERAL}"]', "G0PRIVATE01", "channels.allow"),
        (f'allow = ["{GENERAL}"]', DM, None),
        (
            f'allow = ["{GENERAL}"]\nallow_direct_messages = false',
            DM,
            "channels.allow_direct_messages",
        ),
        (f'allow = ["{GENERAL}"]\nallow_direct_messages = false', GENERAL, None),
        ("allow_direct_messages = false", RANDOM, None),
        ("allow_direct_messages = false", DM, "channels.allow_direct_messages"),
        ("allow = []", DM, None),
        ("allow = []", GENERAL, "channels.allow"),
        ("", RANDOM, None),
    ],
)
def test_channels_allow_and_direct_messages(channels: str, channel: str, rule: str | None) -> None:
    policy = parse(f"[channels]\n{channels}\n")
    decision = policy.check_requester(ALICE, NO_GROUPS, channel)
    if rule is None:
        assert decision.allowed and decision.reason == ""
    else:
        assert (decision.allowed, decision.rule) == (False, rule)
        assert decision.reason


def test_channel_refusal_says_where_to_go() -> None:
    policy = parse(f'[channels]\nallow = ["{GENERAL}"]\nallow_direct_messages = false\n')
    reason = policy.check_requester(ALICE, NO_GROUPS, RANDOM).reason
    assert f"<#{GENERAL}>" in reason and "direct message" not in reason
    reason = policy.check_requester(ALICE, NO_GROUPS, DM).reason
    assert f"<#{GENERAL}>" in reason


def test_requester_is_checked_before_channel() -> None:
    policy = parse(REQUESTERS + f'[channels]\nallow = ["{GENERAL}"]\n')
    assert policy.check_requester(CAROL, NO_GROUPS, RANDOM).rule == "requesters"


# -- organizations -------------------------------------------------------------------------------

PROTECTED = """
[protected]
ids = ["acmeprod1"]
patterns = ["*-prod", "acme*", "shop[0-9]"]
"""


@pytest.mark.parametrize(
    ("org_id", "rule"),
    [
        ("acmeprod1", 'protected.ids "acmeprod1"'),
        ("shop-prod", 'protected.patterns "*-prod"'),
        ("acme2", 'protected.patterns "acme*"'),
        ("acme-prod", 'protected.patterns "*-prod"'),
        ("shop7", 'protected.patterns "shop[0-9]"'),
        ("shopx", None),
        ("prod-shop", None),
        ("xacme", None),
        ("ACME2", None),  # globs are case-sensitive
        ("acmeprod", 'protected.patterns "acme*"'),
    ],
)
def test_protected_ids_and_patterns_name_the_rule(org_id: str, rule: str | None) -> None:
    decision = parse(PROTECTED).check_protected(OrgFacts(org_id, type="Production"))
    if rule is None:
        assert decision == Decision(True, None, "")
    else:
        assert (decision.allowed, decision.rule) == (False, rule)
        assert org_id in decision.reason and rule in decision.reason


TYPED = """
[typed_confirmation]
ids = ["bigcustomer1"]
patterns = ["*-live"]
types = ["Production"]
product_types = ["standard", "SALES"]
"""


@pytest.mark.parametrize(
    ("org", "rule"),
    [
        (OrgFacts("bigcustomer1"), 'typed_confirmation.ids "bigcustomer1"'),
        (OrgFacts("shop-live"), 'typed_confirmation.patterns "*-live"'),
        (OrgFacts("shop-LIVE"), None),
        (OrgFacts("x", type="production"), 'typed_confirmation.types "Production"'),
        (OrgFacts("x", type="PRODUCTION"), 'typed_confirmation.types "Production"'),
        (OrgFacts("x", product_type="STANDARD"), 'typed_confirmation.product_types "standard"'),
        (OrgFacts("x", product_type="Sales"), 'typed_confirmation.product_types "SALES"'),
        (OrgFacts("x", type="Sandbox", product_type="TRIAL"), None),
        (OrgFacts("x"), None),
    ],
)
def test_typed_confirmation_by_id_pattern_type_product_type(
    org: OrgFacts, rule: str | None
) -> None:
    assert parse(TYPED).typed_confirmation_rule(org) == rule


def test_typed_confirmation_table_replaces_the_default() -> None:
    production = OrgFacts("x", type="Production", product_type="STANDARD")
    assert parse("[typed_confirmation]\n").typed_confirmation_rule(production) is None
    assert (
        parse('[typed_confirmation]\nids = ["x"]\n').typed_confirmation_rule(
            OrgFacts("y", type="Production")
        )
        is None
    )
    # Absent table: the built-in default applies even when other tables are set.
    assert parse(REQUESTERS).typed_confirmation_rule(production) is not None


APPROVAL = f"""
[second_approver]
ids = ["bigcustomer1"]
patterns = ["*-prod"]
types = ["production"]
product_types = ["Sales"]
approver_users = ["{DAVE}"]
approver_usergroups = ["{APPROVERS}"]
approval_timeout = 1800
"""


@pytest.mark.parametrize(
    ("org", "rule"),
    [
        (OrgFacts("bigcustomer1"), 'second_approver.ids "bigcustomer1"'),
        (OrgFacts("shop-prod"), 'second_approver.patterns "*-prod"'),
        (OrgFacts("x", type="Production"), 'second_approver.types "production"'),
        (OrgFacts("x", product_type="SALES"), 'second_approver.product_types "Sales"'),
        (OrgFacts("x", type="Sandbox", product_type="SANDBOX"), None),
    ],
)
def test_approval_rule(org: OrgFacts, rule: str | None) -> None:
    policy = parse(APPROVAL)
    assert policy.approval_rule(org) == rule
    assert policy.approval_timeout == 1800
    assert policy.typed_confirmation_rule(OrgFacts("bigcustomer1")) is None


@pytest.mark.parametrize(
    ("user", "groups", "expected"),
    [
        (DAVE, NO_GROUPS, True),
        (CAROL, frozenset({APPROVERS}), True),
        (CAROL, frozenset({DBAS}), False),
        (ALICE, NO_GROUPS, False),
    ],
)
def test_approvers_by_user_and_group(user: str, groups: frozenset[str], expected: bool) -> None:
    assert parse(APPROVAL).is_approver(user, groups) is expected


@pytest.mark.parametrize(
    ("user", "groups", "expected"),
    [
        (DAVE, NO_GROUPS, True),
        (CAROL, frozenset({"S0ADMINS001"}), True),
        (CAROL, frozenset({DBAS}), False),
        (ALICE, NO_GROUPS, False),
    ],
)
def test_admins_by_user_and_group(user: str, groups: frozenset[str], expected: bool) -> None:
    policy = parse(f'[admins]\nusers = ["{DAVE}"]\nusergroups = ["S0ADMINS001"]\n')
    assert policy.is_admin(user, groups) is expected
    assert not policy.is_approver(user, groups)


def test_usergroups_lists_every_group_mentioned() -> None:
    policy = parse(REQUESTERS + APPROVAL + '[admins]\nusergroups = ["S0ADMINS001"]\n')
    assert policy.usergroups() == frozenset({DBAS, APPROVERS, "S0ADMINS001"})


@pytest.mark.parametrize(
    ("text", "caps"),
    [
        (
            "per_user_per_hour = 3\nper_user_per_day = 10\nglobal_per_hour = 10\nglobal_per_day = 30",
            Caps(3, 10, 10, 30),
        ),
        ("per_user_per_day = 1", Caps(None, 1, None, None)),
        ("global_per_hour = 1000", Caps(None, None, 1000, None)),
        ("", Caps(None, None, None, None)),
    ],
)
def test_caps_parsed(text: str, caps: Caps) -> None:
    policy = parse(f"[caps]\n{text}\n")
    assert policy.caps == caps
    assert policy.caps.limited is (caps != Caps())


@pytest.mark.parametrize("timeout", [60, 86400])
def test_approval_timeout_bounds_are_accepted(timeout: int) -> None:
    policy = parse(
        f"{APPROVAL}".replace("approval_timeout = 1800", f"approval_timeout = {timeout}")
    )
    assert policy.approval_timeout == timeout


@pytest.mark.parametrize("pattern", ["*", "acme-?", "[a-c]*", "[!x]*-prod", "exact-id"])
def test_valid_patterns_are_accepted(pattern: str) -> None:
    assert parse(f'[protected]\npatterns = ["{pattern}"]\n').protected.patterns == (pattern,)


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Names instead of immutable IDs.
        ('[requesters]\nusers = ["@alice"]', 'requesters.users: "@alice" is not an ID'),
        ('[requesters]\nusers = ["alice"]', 'requesters.users: "alice" is not an ID'),
        ('[requesters]\nusers = ["u0alice0001"]', 'requesters.users: "u0alice0001"'),
        (f'[requesters]\nusers = ["{DBAS}"]', f'requesters.users: "{DBAS}" is a user group ID'),
        ('[requesters]\nusergroups = ["@dbas"]', 'requesters.usergroups: "@dbas" is not an ID'),
        (f'[admins]\nusergroups = ["{ALICE}"]', f'admins.usergroups: "{ALICE}" is a user ID'),
        ('[admins]\nusers = ["Dave"]', 'admins.users: "Dave"'),
        ('[channels]\nallow = ["#general"]', 'channels.allow: "#general" is not an ID'),
        ('[channels]\nallow = ["general"]', 'channels.allow: "general"'),
        ('[channels]\nallow = ["D0ALICEDM01"]', "is a direct message"),
        (
            '[second_approver]\npatterns = ["*"]\napprover_users = ["@carol"]',
            'second_approver.approver_users: "@carol"',
        ),
        (
            '[second_approver]\npatterns = ["*"]\napprover_usergroups = ["approvers"]',
            'second_approver.approver_usergroups: "approvers"',
        ),
        # Unknown tables and keys (typos).
        ("[requestors]\nusers = []", "requestors: unknown table (did you mean 'requesters'?)"),
        ("[protect]\nids = []", "protect: unknown table (did you mean 'protected'?)"),
        ('[protected]\nid = ["acme"]', "protected.id: unknown key (did you mean 'ids'?)"),
        ('[protected]\ntypes = ["Production"]', "protected.types: unknown key"),
        (
            "[caps]\nper_user_hour = 3",
            "caps.per_user_hour: unknown key (did you mean 'per_user_per_hour'?)",
        ),
        ("[channels]\nallow_dms = false", "channels.allow_dms: unknown key"),
        ('users = ["U0ALICE0001"]', "users: unknown top-level key"),
        ("[protected.extra]\nids = []", "protected.extra: unknown key"),
        # Wrong types.
        (
            f'[requesters]\nusers = "{ALICE}"',
            "requesters.users: must be an array of strings, got a string",
        ),
        ("[requesters]\nusers = [1]", "requesters.users: item 1 must be a string, got an integer"),
        (
            '[channels]\nallow_direct_messages = "yes"',
            "channels.allow_direct_messages: must be true or false, got a string",
        ),
        (
            '[caps]\nper_user_per_hour = "3"',
            "caps.per_user_per_hour: must be an integer, got a string",
        ),
        ("[caps]\nglobal_per_day = 3.5", "caps.global_per_day: must be an integer, got a float"),
        (
            "[caps]\nglobal_per_hour = true",
            "caps.global_per_hour: must be an integer, got a boolean",
        ),
        ("requesters = 3", "requesters: must be a table [requesters], got an integer"),
        ("[protected]\nids = [{ a = 1 }]", "protected.ids: item 1 must be a string, got a table"),
        (
            "[typed_confirmation]\ntypes = 2024-01-01",
            "typed_confirmation.types: must be an array of strings, got a date or time",
        ),
        # Out of range.
        ("[caps]\nper_user_per_hour = 0", "caps.per_user_per_hour: must be at least 1, got 0"),
        ("[caps]\nper_user_per_day = -5", "caps.per_user_per_day: must be at least 1, got -5"),
        (
            '[second_approver]\npatterns = ["*"]\napprover_users = ["U0DAVE00001"]\napproval_timeout = 59',
            "second_approver.approval_timeout: must be between 60 and 86400, got 59",
        ),
        (
            '[second_approver]\npatterns = ["*"]\napprover_users = ["U0DAVE00001"]\napproval_timeout = 86401',
            "second_approver.approval_timeout: must be between 60 and 86400, got 86401",
        ),
        # Second approver incomplete.
        (
            '[second_approver]\ntypes = ["Production"]',
            "second_approver.approver_users: no approver is named",
        ),
        (
            '[second_approver]\napprover_users = ["U0DAVE00001"]',
            "second_approver.ids: approvers are named but no",
        ),
        # Bad organization IDs and patterns.
        ('[protected]\nids = ["AcmeProd"]', 'protected.ids: "AcmeProd" is not an organization ID'),
        ('[protected]\nids = ["-acme"]', 'protected.ids: "-acme" is not an organization ID'),
        (
            '[typed_confirmation]\nids = ["acme_prod"]',
            'typed_confirmation.ids: "acme_prod" is not an organization ID',
        ),
        (f'[protected]\nids = ["{"a" * 101}"]', "at most 100 characters"),
        ('[protected]\nids = [""]', 'protected.ids: "" is not an organization ID'),
        ('[protected]\npatterns = [""]', 'protected.patterns: "" is empty'),
        ('[protected]\npatterns = ["ACME*"]', 'protected.patterns: "ACME*" can never match'),
        (
            '[protected]\npatterns = ["acme.prod"]',
            'protected.patterns: "acme.prod" can never match',
        ),
        ('[protected]\npatterns = ["acme[0-9"]', 'protected.patterns: "acme[0-9" can never match'),
        ('[typed_confirmation]\ntypes = [""]', 'typed_confirmation.types: "" is empty'),
        ('[typed_confirmation]\nproduct_types = [" STANDARD"]', "has surrounding spaces"),
        # A policy under which the command works nowhere.
        (
            "[channels]\nallow = []\nallow_direct_messages = false",
            "channels.allow: empty while allow_direct_messages = false",
        ),
    ],
)
def test_validation_errors_name_the_key_and_value(text: str, expected: str) -> None:
    problems = problems_of(text + "\n")
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "policy.toml",
        """
        [requesters]
        users = ["@alice", "U0ALICE0001", "bob"]
        [channels]
        allow = ["#general"]
        [protectd]
        ids = ["acmeprod1"]
        [caps]
        per_user_per_hour = 0
        [second_approver]
        types = ["Production"]
        approval_timeout = 5
        """,
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    problems = caught.value.problems
    assert len(problems) == 7, problems
    for start in (
        'requesters.users: "@alice"',
        'requesters.users: "bob"',
        'channels.allow: "#general"',
        "protectd: unknown table (did you mean 'protected'?)",
        "caps.per_user_per_hour:",
        "second_approver.approval_timeout:",
        "second_approver.approver_users:",
    ):
        assert sum(problem.startswith(start) for problem in problems) == 1, (start, problems)
    message = str(caught.value)
    assert str(path) in message and all(problem in message for problem in problems)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[requesters]\nusers = ["U0ALICE0001" "U0BOB000001"]\n', 2),
        ("[caps]\nglobal_per_day = \n", 2),
        ("[caps]\nper_user_per_hour = 3\nper_user_per_hour = 4\n", 3),
        ("[requesters\n", 1),
    ],
)
def test_toml_syntax_error_names_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: TOML syntax error")
    assert f"line {line}" in problem


def test_unreadable_or_non_utf8_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the file"):
        load_policy(tmp_path / "missing.toml")
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"# caf\xe9\n")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(path)


# -- PolicyHolder --------------------------------------------------------------------------------

V1 = "[caps]\nper_user_per_hour = 1\n"
V2 = "[caps]\nper_user_per_hour = 2\n"
INVALID = "[caps]\nper_user_per_hour = 0\n"


class CountingLoader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: Path) -> Policy:
        self.calls += 1
        return load_policy(path)


def hourly(holder: PolicyHolder) -> int | None:
    return holder.current().caps.per_user_per_hour


def test_holder_without_file_uses_the_default() -> None:
    holder = PolicyHolder(None)
    assert holder.current() == default_policy()
    assert holder.path is None
    assert holder.reload() is False


def test_holder_fails_loudly_on_an_invalid_initial_file(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.toml", INVALID)
    with pytest.raises(PolicyError, match="caps.per_user_per_hour"):
        PolicyHolder(path)
    with pytest.raises(PolicyError, match="cannot read"):
        PolicyHolder(tmp_path / "missing.toml")


def test_holder_does_not_reload_an_unchanged_file(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.toml", V1)
    loader = CountingLoader()
    holder = PolicyHolder(path, loader=loader)
    for _ in range(50):
        assert hourly(holder) == 1
    assert loader.calls == 1


def test_holder_reloads_when_the_file_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "policy.toml", V1)
    holder = PolicyHolder(path)
    assert hourly(holder) == 1
    caplog.set_level(logging.INFO, logger="bot.policy")
    path.write_text(V2 + "# a longer file\n")  # in place, different size
    assert hourly(holder) == 2
    assert holder.current().source == str(path)
    assert [r.getMessage() for r in caplog.records] == [f"policy reloaded from {path}"]


def test_holder_reloads_when_only_the_mtime_changes(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.toml", V1)
    loader = CountingLoader()
    holder = PolicyHolder(path, loader=loader)
    holder.current()
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert hourly(holder) == 1
    assert loader.calls == 2
    holder.current()
    assert loader.calls == 2


def test_invalid_new_version_keeps_the_old_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "policy.toml", V1, mtime_ns=1_000_000_000_000_000_000)
    holder = PolicyHolder(path)
    write(path, INVALID, mtime_ns=1_000_000_001_000_000_000)
    with caplog.at_level(logging.INFO, logger="bot.policy"):
        for _ in range(20):
            assert hourly(holder) == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "caps.per_user_per_hour: must be at least 1" in errors[0].getMessage()
    assert "keeping the previous policy" in errors[0].getMessage()
    # A second invalid change is reported again, once; a valid one is then accepted.
    caplog.clear()
    write(path, INVALID + "# still wrong\n", mtime_ns=1_000_000_002_000_000_000)
    with caplog.at_level(logging.INFO, logger="bot.policy"):
        for _ in range(5):
            assert hourly(holder) == 1
        write(path, V2, mtime_ns=1_000_000_003_000_000_000)
        assert hourly(holder) == 2
    assert [r.levelname for r in caplog.records] == ["ERROR", "INFO"]


def test_missing_file_keeps_the_old_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "policy.toml", V1)
    holder = PolicyHolder(path)
    path.unlink()
    with caplog.at_level(logging.ERROR, logger="bot.policy"):
        for _ in range(10):
            assert hourly(holder) == 1
    assert len(caplog.records) == 1 and "missing or unreadable" in caplog.text
    write(path, V2)
    assert hourly(holder) == 2


def test_reload_forces_a_load_for_sighup(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path / "policy.toml", V1)
    loader = CountingLoader()
    holder = PolicyHolder(path, loader=loader)
    assert holder.reload() is True
    assert loader.calls == 2
    # Same stamp after a forced reload: current() does not load again.
    holder.current()
    assert loader.calls == 2
    stat = path.stat()
    path.write_text(V2)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime: unseen
    assert holder.reload() is True
    assert hourly(holder) == 2
    path.write_text(INVALID)
    with caplog.at_level(logging.ERROR, logger="bot.policy"):
        assert holder.reload() is False
        assert holder.reload() is False  # forced: reported every time it is asked for
    assert hourly(holder) == 2
    assert len(caplog.records) == 2


def test_current_is_thread_safe_while_the_file_changes(tmp_path: Path) -> None:
    base = 1_000_000_000_000_000_000
    path = write(tmp_path / "policy.toml", "[caps]\nper_user_per_hour = 1\n", mtime_ns=base)
    holder = PolicyHolder(path)
    stop = threading.Event()
    seen: list[int | None] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                seen.append(hourly(holder))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for version in range(2, 60):
            text = f"[caps]\nper_user_per_hour = {version}\n"
            write(path, text, mtime_ns=base + version * 1_000_000_000)
            if version % 10 == 0:
                holder.reload()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert not errors
    assert hourly(holder) == 59
    assert set(seen) <= set(range(1, 60))
    assert len(seen) > 0


# -- describe_for --------------------------------------------------------------------------------


def test_describe_for_a_requester_in_the_wrong_channel() -> None:
    text = load_policy(EXAMPLE).describe_for(ALICE, NO_GROUPS, RANDOM)
    for part in (
        "you may request deletions (requesters.users)",
        f"<@{ALICE}>",
        f"<!subteam^{DBAS}>",
        f"<#{GENERAL}>",
        "*Not here* (channels.allow)",
        "`globexprod1`",
        "`*-prod`",
        "type Production",
        "license product type STANDARD, SALES",
        f"<!subteam^{APPROVERS}>",
        "within 15 minutes",
        "You are not an approver",
        "3 per person per hour",
        "30 per day for everyone together",
        "you are not an admin",
        f"<@{DAVE}>",
        "Organization - Edit",
    ):
        assert part in text, part


@pytest.mark.parametrize(
    ("user", "groups", "channel", "parts"),
    [
        (
            CAROL,
            NO_GROUPS,
            GENERAL,
            ["you may *not* request deletions", "You may use the command here"],
        ),
        (
            BOB,
            frozenset({DBAS}),
            DM,
            [f'requesters.usergroups "{DBAS}"', "You may use the command here"],
        ),
        (DAVE, NO_GROUPS, GENERAL, ["you are an admin", "may *not* request"]),
        (CAROL, frozenset({APPROVERS}), GENERAL, ["You are an approver"]),
    ],
)
def test_describe_for_depends_on_the_caller(
    user: str, groups: frozenset[str], channel: str, parts: list[str]
) -> None:
    text = load_policy(EXAMPLE).describe_for(user, groups, channel)
    for part in parts:
        assert part in text, part


def test_describe_for_the_default_policy() -> None:
    text = default_policy().describe_for(ALICE, NO_GROUPS, DM)
    for part in (
        DEFAULT_SOURCE,
        "anyone with a linked Coveo account",
        "any channel",
        "You may use the command here",
        "Protected* (never deletable through this app): none",
        "type production",
        "license product type STANDARD, SALES",
        "Second approver:* not required",
        "no limit",
        "freezing the app is unavailable",
    ):
        assert part in text, part


def test_describe_for_dms_refused_and_text_escaped() -> None:
    policy = parse(
        f"""
        [channels]
        allow = ["{GENERAL}"]
        allow_direct_messages = false
        [typed_confirmation]
        types = ["<!channel>"]
        """
    )
    text = policy.describe_for(ALICE, NO_GROUPS, DM)
    assert "*Not here* (channels.allow_direct_messages)" in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[second_approver]\ntypes = ["Production"]\napprover_users = ["@carol"]', '"@carol"'),
        ('[second_approver]\nids = ["Bad_Id"]\napprover_users = ["U0DAVE00001"]', '"Bad_Id"'),
    ],
)
def test_an_invalid_item_is_not_also_reported_as_a_missing_one(text: str, expected: str) -> None:
    [problem] = problems_of(text + "\n")
    assert expected in problem
