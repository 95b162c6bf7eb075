"""The environment variables the app reads and the ones ``.env.example`` lists, for the tests
that hold the docs and the deployment files to the code."""

from __future__ import annotations

import re
from pathlib import Path

from bot import config as config_module

ROOT = Path(__file__).resolve().parent.parent


def variables_read_by_config() -> set[str]:
    """Every variable name quoted in ``bot/config.py`` (the only reader of the settings)."""
    source = Path(config_module.__file__).read_text()
    return set(
        re.findall(
            r'"((?:SLACK|COVEO|DELETE_ORG)_[A-Z_]+|PORT|HOST|LOG_LEVEL|LOG_FORMAT|PUBLIC_URL)"',
            source,
        )
    )


def variables_in_env_example() -> set[str]:
    """The variables ``.env.example`` assigns (``NAME=`` at the start of a line)."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z_]+)=", text, flags=re.MULTILINE))
