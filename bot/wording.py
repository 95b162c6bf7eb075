"""Small helpers for user-facing wording shared by the CLI, the configuration and handlers."""


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 problem``, ``2 problems``, ``0 problems`` (``many`` for irregular plurals)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
