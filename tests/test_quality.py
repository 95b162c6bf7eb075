"""Lint, format and type checks run with the test suite, so CI keeps them clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_ruff_check_is_clean() -> None:
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_entry_point_is_thin_and_handlers_see_no_sql_or_httpx() -> None:
    main = (ROOT / "bot" / "__main__.py").read_text().splitlines()
    assert len(main) <= 30
    for path in (ROOT / "handlers").glob("*.py"):
        text = path.read_text()
        assert "sqlite" not in text and "execute(" not in text, path
        assert "import httpx" not in text, path
        assert "@app." not in text, path
