"""The ops tests report what they tried (RPCs x credentials, kills survived, rows checked, fuzz
examples): each adds to ``figures``; the totals are printed at the end of the run and written to
``build/ops-figures.json`` (the README's "Security and reliability" numbers come from there)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

FIGURES: Counter[str] = Counter()
OUT = Path(__file__).resolve().parents[2] / "build" / "ops-figures.json"


@pytest.fixture(scope="session")
def figures() -> Counter[str]:
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.write_sep("-", "security and reliability figures")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")
    OUT.parent.mkdir(exist_ok=True)
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    OUT.write_text(json.dumps({**previous, **FIGURES}, indent=2, sort_keys=True) + "\n")
