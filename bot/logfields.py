"""The context fields of the app's own log lines, passed as ``extra=`` in one way everywhere.

``logger.info("request ended: %s", state, extra=log_fields(state, request))`` gives the record
``event`` (a short snake_case name, the audit event's name where there is one), and from the
request ``request_id``, ``org_id`` and ``workspace`` (the Slack team ID; the Enterprise Grid ID
when the team is unknown). With ``LOG_FORMAT=json`` each becomes a key of the line
(:mod:`bot.logsetup`); the text format shows the message only. Never pass a secret here.
"""

from __future__ import annotations

from typing import Protocol


class Place(Protocol):
    """Where something happened: a request, an actor or a link (their ``workspace`` key)."""

    @property
    def workspace(self) -> str:
        """Enterprise ID on Enterprise Grid, else the team ID."""
        ...


class RequestLike(Place, Protocol):
    """A deletion request as far as logs need it."""

    @property
    def id(self) -> str:
        """The request's opaque ID."""
        ...

    @property
    def org_id(self) -> str:
        """The Coveo organization ID."""
        ...

    @property
    def team_id(self) -> str | None:
        """The Slack team ID, when known."""
        ...


def _team(where: Place) -> str:
    return str(getattr(where, "team_id", None) or where.workspace)


def log_fields(
    event: str,
    request: RequestLike | None = None,
    *,
    where: Place | None = None,
    org_id: str | None = None,
) -> dict[str, str]:
    """The ``extra=`` mapping of one log line: ``event``, plus ``request_id``, ``org_id`` and
    ``workspace`` of ``request``, or ``workspace`` of ``where`` (an actor, a link) and the
    given ``org_id``. Fields that are unknown are left out, never logged as null."""
    fields = {"event": event}
    if request is not None:
        fields.update(request_id=request.id, org_id=request.org_id, workspace=_team(request))
        return fields
    if where is not None:
        fields["workspace"] = _team(where)
    if org_id is not None:
        fields["org_id"] = org_id
    return fields
