"""docs/security.md must show the RPC → scope table the code enforces."""

from __future__ import annotations

from pathlib import Path

from labeldesk.scope_doc import BEGIN, END, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_scope_table_is_current() -> None:
    text = DOC.read_text()
    assert BEGIN in text and END in text, "docs/security.md lost its scope-table markers"
    table = text[text.index(BEGIN) : text.index(END) + len(END)] + "\n"
    assert table == render(), "run: python -m labeldesk.scope_doc and paste it into docs/security.md"
