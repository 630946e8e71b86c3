"""The project's own Python source files, for the structure tests that read code."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {"tests", "migrations", "node_modules", "staticfiles", "__pycache__"}


def project_sources() -> list[Path]:
    """Every .py file of the project, tests, migrations and hidden or build folders left out."""
    files = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if any(part.startswith(".") or part in SKIPPED_DIRS or part.endswith(".egg-info") for part in parts):
            continue
        files.append(path)
    return files
