"""Closing a SQLite store while other threads still use it (a listener outliving a stop)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from bot.crypto import TokenCipher
from storage import Store

ROOT = Path(__file__).resolve().parent.parent

BUSY_THREADS_THEN_CLOSE = textwrap.dedent(
    """
    import sys, tempfile, threading, time
    from pathlib import Path
    from cryptography.fernet import Fernet
    from bot.crypto import TokenCipher
    from storage import Store

    store = Store(Path(tempfile.mkdtemp()) / "x.db", TokenCipher([Fernet.generate_key().decode()]))
    count = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)"
             " SELECT count(*) FROM c")
    results = []

    def work():
        for _ in range(20):
            results.append(store._db().execute(count).fetchone()[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    store.close()
    for thread in threads:
        thread.join()
    print(len(results), set(results))
    """
)


def test_closing_while_other_threads_run_statements_never_crashes() -> None:
    """Four threads in the middle of statements when the store is closed: the process goes on
    (before the fix sqlite3 died of a segmentation fault), every statement completes."""
    done = subprocess.run(
        [sys.executable, "-c", BUSY_THREADS_THEN_CLOSE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.split() == ["80", "{200000}"]


def _open_handles(path: Path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


def test_an_idle_threads_connection_is_closed_too(tmp_path: Path, cipher: TokenCipher) -> None:
    """A thread that used the store and now waits (a pool thread between tasks) keeps no
    connection open once the store is closed and garbage is collected."""
    path = tmp_path / "idle.db"
    store = Store(path, cipher)
    used, release = threading.Event(), threading.Event()

    def idle_worker() -> None:
        store.get_link("T1", "U1")
        used.set()
        release.wait(10)

    worker = threading.Thread(target=idle_worker)
    worker.start()
    try:
        assert used.wait(10)
        assert _open_handles(path) >= 2  # this thread's connection and the worker's
        store.close()
        gc.collect()  # the connection is let go, then collected (its objects form a cycle)
        assert _open_handles(path) == 0
    finally:
        release.set()
        worker.join(10)
