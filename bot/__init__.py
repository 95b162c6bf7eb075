"""Package."""

from importlib.metadata import PackageNotFoundError, version


def app_version() -> str:
    """This app's installed version (``pyproject.toml``), or a note that it is not installed."""
    try:
        return version("delete-org-bot")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree, uninstalled
        return "unknown (not installed)"
