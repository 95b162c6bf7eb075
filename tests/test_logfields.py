"""log_fields: the one way the app's log lines get event, request_id, org_id and workspace."""

from __future__ import annotations

from dataclasses import dataclass

from bot.logfields import log_fields
from handlers.deps import Actor


@dataclass(frozen=True)
class _Request:
    id: str
    org_id: str
    workspace: str
    team_id: str | None


def test_a_request_gives_its_id_org_and_team() -> None:
    request = _Request("r-1", "acmeprod1", "E0GRID0001", "T0TEAM0001")
    assert log_fields("deleted", request) == {
        "event": "deleted",
        "request_id": "r-1",
        "org_id": "acmeprod1",
        "workspace": "T0TEAM0001",
    }


def test_without_a_team_the_workspace_key_is_used() -> None:
    request = _Request("r-1", "acmeprod1", "E0GRID0001", None)
    assert log_fields("expired", request)["workspace"] == "E0GRID0001"


def test_an_actor_gives_the_workspace_and_unknown_fields_are_left_out() -> None:
    actor = Actor("E0GRID0001", "T0TEAM0002", "U0ALICE0001", "C0GENERAL01", None)
    assert log_fields("views_open_failed", where=actor) == {
        "event": "views_open_failed",
        "workspace": "T0TEAM0002",
    }
    assert log_fields("coveo_retry", org_id="acmeprod1") == {
        "event": "coveo_retry",
        "org_id": "acmeprod1",
    }
    assert log_fields("ready") == {"event": "ready"}
