"""The README's Layout section names every module of the app."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_layout_lists_every_module() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("Layout (") :]
    missing = [
        str(path.relative_to(ROOT))
        for package in ("bot", "handlers", "storage")
        for path in sorted((ROOT / package).rglob("*.py"))
        if f"`{path.name}`" not in layout and path.name != "__init__.py"
    ]
    assert missing == []
