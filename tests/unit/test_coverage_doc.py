"""docs/api-coverage.md must list exactly what the server implements."""

from __future__ import annotations

from pathlib import Path

from labeldesk.coverage import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "api-coverage.md"


def test_api_coverage_doc_is_current() -> None:
    assert DOC.read_text() == render(), "run: python -m labeldesk.coverage > docs/api-coverage.md"
