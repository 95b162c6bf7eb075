"""The Socket Mode envelope record (``storage.envelopes``) and the ack Bolt would send
(``bot.socket_mode.ack_for``): each storage test on a real SQLite file and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from slack_bolt import Ack, App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

import storage.envelopes as envelopes
from bot.clock import utcnow
from bot.crypto import DecryptionError, TokenCipher
from bot.socket_mode import NO_ACK, OnceSocketModeHandler, ack_for
from storage import Store
from storage.envelopes import ENVELOPE_KEEP, EnvelopeClaim
from tests.backends import raw_rows

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def store_target(both_backends: Path | str) -> Path | str:
    return both_backends


def _rows(location: Path | str) -> list[tuple[str, str | None]]:
    """``(envelope_id, ack_encrypted)`` of every remembered envelope, oldest first."""
    return [
        (str(envelope_id), ack)
        for envelope_id, ack in raw_rows(
            location,
            "SELECT envelope_id, ack_encrypted FROM socket_envelopes"
            " ORDER BY received_at, envelope_id",
        )
    ]


def test_the_first_delivery_is_taken_and_a_redelivery_gets_its_recorded_ack(store: Store) -> None:
    assert store.claim_envelope("e1", kind="slash_commands", instance_id="a", now=T0).first
    before_ack = store.claim_envelope("e1", kind="slash_commands", instance_id="b", now=T0)
    assert before_ack == EnvelopeClaim(first=False, acked=False)
    store.record_envelope_ack("e1", {"text": "Use `/delete-org help`"}, T0)
    after = store.claim_envelope("e1", kind="slash_commands", instance_id="b", now=T0)
    assert after == EnvelopeClaim(
        first=False, acked=True, ack_payload={"text": "Use `/delete-org help`"}
    )


def test_an_ack_without_payload_is_recorded_as_such(store: Store) -> None:
    store.claim_envelope("e1", kind="interactive", instance_id="a", now=T0)
    store.record_envelope_ack("e1", None, T0)
    claim = store.claim_envelope("e1", kind="interactive", instance_id="a", now=T0)
    assert claim == EnvelopeClaim(first=False, acked=True, ack_payload=None)


def test_the_ack_is_stored_encrypted(store: Store, store_target: Path | str) -> None:
    store.claim_envelope("e1", kind="slash_commands", instance_id="a", now=T0)
    store.record_envelope_ack("e1", {"text": "Linked as alice@example.com"}, T0)
    [(_, stored)] = _rows(store_target)
    assert stored is not None and "alice" not in stored


def test_an_ack_no_key_reads_raises_decryption_error(store_target: Path | str) -> None:
    path = store_target
    first = Store(path, TokenCipher([Fernet.generate_key().decode()]))
    first.claim_envelope("e1", kind="slash_commands", instance_id="a", now=T0)
    first.record_envelope_ack("e1", {"text": "hi"}, T0)
    first.close()
    other = Store(path, TokenCipher([Fernet.generate_key().decode()]))
    try:
        with pytest.raises(DecryptionError):
            other.claim_envelope("e1", kind="slash_commands", instance_id="b", now=T0)
    finally:
        other.close()


def test_envelopes_expire_after_an_hour(store: Store, store_target: Path | str) -> None:
    store.claim_envelope("old", kind="interactive", instance_id="a", now=T0)
    later = T0 + ENVELOPE_KEEP + timedelta(seconds=1)
    store.claim_envelope("new", kind="interactive", instance_id="a", now=later)
    assert [row[0] for row in _rows(store_target)] == ["new"]
    assert store.claim_envelope("old", kind="interactive", instance_id="a", now=later).first


def test_at_most_max_envelopes_are_kept(
    store: Store, store_target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(envelopes, "MAX_ENVELOPES", 3)
    for number in range(5):
        at = T0 + timedelta(microseconds=number)
        store.claim_envelope(f"e{number}", kind="interactive", instance_id="a", now=at)
    assert [row[0] for row in _rows(store_target)] == ["e2", "e3", "e4"]


def test_envelopes_of_the_cut_off_microsecond_are_kept_together(
    store: Store, store_target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap cuts by receipt time only: rows sharing the cut-off row's microsecond stay
    (a bounded overshoot), older ones go."""
    monkeypatch.setattr(envelopes, "MAX_ENVELOPES", 2)
    store.claim_envelope("older", kind="interactive", instance_id="a", now=T0)
    for name in ("same-a", "same-b", "same-c"):
        at = T0 + timedelta(microseconds=1)
        store.claim_envelope(name, kind="interactive", instance_id="a", now=at)
    assert sorted(row[0] for row in _rows(store_target)) == ["same-a", "same-b", "same-c"]


def test_two_stores_on_one_database_take_an_envelope_once(
    store_target: Path | str, cipher: TokenCipher
) -> None:
    """Two processes' stores (each with its own connections: two replicas' pools on
    PostgreSQL), many threads each, one envelope: exactly one caller is first."""
    path = store_target
    stores = [Store(path, cipher), Store(path, cipher)]
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def claim(store: Store) -> None:
        start.wait()
        first = store.claim_envelope("same", kind="interactive", instance_id="x", now=T0).first
        with lock:
            results.append(first)

    threads = [threading.Thread(target=claim, args=(stores[i % 2],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert sorted(results) == [False] * 15 + [True]


def test_racing_claims_of_many_envelopes_keep_the_cap_and_never_fail(
    store_target: Path | str, cipher: TokenCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas, 12 threads each taking distinct envelopes at once (each claim at its own
    time, so their purges overlap): every claim succeeds (no deadlock between the purges), each is
    first, and the cap holds once they are done."""
    monkeypatch.setattr(envelopes, "MAX_ENVELOPES", 3)
    stores = [Store(store_target, cipher), Store(store_target, cipher)]
    for number in range(6):
        stores[0].claim_envelope(f"old{number}", kind="interactive", instance_id="a", now=T0)
    errors: list[BaseException] = []
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def claim(index: int) -> None:
        start.wait()
        try:
            for round_ in range(5):
                at = T0 + timedelta(seconds=index, microseconds=round_)
                claimed = stores[index % 2].claim_envelope(
                    f"e{index}-{round_}", kind="interactive", instance_id="x", now=at
                )
                with lock:
                    results.append(claimed.first)
        except BaseException as error:  # asserted on below
            errors.append(error)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for store in stores:
        store.close()
    assert [repr(error) for error in errors] == []
    assert results == [True] * 60
    assert len(_rows(store_target)) == 3


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (BoltResponse(status=200, body=""), None),
        (
            BoltResponse(
                status=200, body='{"text": "hi"}', headers={"content-type": "application/json"}
            ),
            {"text": "hi"},
        ),
        (BoltResponse(status=200, body="plain"), {"text": "plain"}),
    ],
)
def test_ack_for_mirrors_bolt(response: BoltResponse, expected: object) -> None:
    assert ack_for(response) == expected


def test_ack_for_a_failed_dispatch_is_no_ack() -> None:
    assert ack_for(BoltResponse(status=404, body="unhandled")) is NO_ACK


class _BrokenStore:
    def claim_envelope(self, *args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    def record_envelope_ack(self, *args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")


class _Client:
    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.sent.append(response.to_dict())


def test_a_database_failure_at_the_claim_is_logged_and_the_envelope_still_handled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Dropping every request while the database hiccups would be worse; the compare-and-set
    transitions still bound the DELETE to one."""
    handled: list[str] = []
    app = _command_app(handled)
    handler = OnceSocketModeHandler(
        app, "xapp-test", store=_BrokenStore(), instance_id="i", clock=utcnow, ping_interval=1
    )  # type: ignore[arg-type]
    try:
        client = _Client()
        body = {"command": "/delete-org", "text": "help", "team_id": "T1", "user_id": "U1"}
        handler.handle(client, SocketModeRequest("slash_commands", "e1", body))  # type: ignore[arg-type]
    finally:
        handler.close()  # type: ignore[no-untyped-call]
    assert handled == ["help"]
    assert client.sent == [{"envelope_id": "e1", "payload": {"text": "Here is the help"}}]
    assert "cannot record Socket Mode envelope e1; handling it anyway" in caplog.text
    assert "cannot record the ack of Socket Mode envelope e1" in caplog.text


def _command_app(handled: list[str]) -> App:
    app = App(
        signing_secret="unused",
        authorize=lambda **_: AuthorizeResult(
            enterprise_id=None, team_id="T1", bot_token="xoxb-test-not-real", bot_user_id="U0BOT"
        ),
        request_verification_enabled=False,
    )

    @app.command("/delete-org")
    def command(ack: Ack, body: dict[str, str]) -> None:
        handled.append(body["text"])
        ack(text="Here is the help")

    return app


def test_redeliveries_are_not_handled_again_and_get_the_first_ack(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """In flight elsewhere (taken, no ack yet): nothing handled, nothing sent. After the first
    handler acked: its ack again, nothing handled."""
    caplog.set_level("INFO", logger="bot.socket_mode")
    handled: list[str] = []
    handler = OnceSocketModeHandler(
        _command_app(handled),
        "xapp-test",
        store=store,
        instance_id="me",
        clock=utcnow,
        ping_interval=1,
    )
    body = {"command": "/delete-org", "text": "help", "team_id": "T1", "user_id": "U1"}
    store.claim_envelope("e1", kind="slash_commands", instance_id="other", now=utcnow())
    client = _Client()
    try:
        handler.handle(client, SocketModeRequest("slash_commands", "e1", body, retry_attempt=1))  # type: ignore[arg-type]
        assert handled == [] and client.sent == []
        assert "while still being handled" in caplog.text
        handler.handle(client, SocketModeRequest("slash_commands", "e2", body))  # type: ignore[arg-type]
        handler.handle(client, SocketModeRequest("slash_commands", "e2", body, retry_attempt=1))  # type: ignore[arg-type]
    finally:
        handler.close()  # type: ignore[no-untyped-call]
    assert handled == ["help"]
    ack = {"envelope_id": "e2", "payload": {"text": "Here is the help"}}
    assert client.sent == [ack, ack]
