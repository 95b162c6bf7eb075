"""DelayedNotice: sent only for slow work, at most once, and always before what follows."""

from __future__ import annotations

import threading

from handlers.notice import DelayedNotice


def test_fast_work_sends_no_notice() -> None:
    said: list[str] = []
    with DelayedNotice(lambda: said.append("notice"), 60.0) as notice:
        said.append("work")
    said.append("outcome")
    assert said == ["work", "outcome"] and not notice.sent


def test_slow_work_sends_the_notice_first_and_once() -> None:
    said: list[str] = []
    sent = threading.Event()

    def send() -> None:
        said.append("notice")
        sent.set()

    with DelayedNotice(send, 0.01) as notice:
        assert sent.wait(10)  # the work is "slow": it outlasts the delay
        said.append("work done")
    said.append("outcome")
    assert said == ["notice", "work done", "outcome"] and notice.sent


def test_leaving_the_block_waits_for_a_notice_being_sent() -> None:
    said: list[str] = []
    started, release = threading.Event(), threading.Event()

    def send() -> None:
        started.set()
        release.wait(10)
        said.append("notice")

    notice = DelayedNotice(send, 0.01)
    with notice:
        assert started.wait(10)
        release.set()  # the notice is still being sent while the block ends
    said.append("outcome")
    assert said == ["notice", "outcome"]


def test_zero_delay_sends_at_once() -> None:
    said: list[str] = []
    with DelayedNotice(lambda: said.append("notice"), 0):
        assert said == ["notice"]
