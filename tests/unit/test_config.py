"""Server settings come from LABELDESK_* variables, read once; bad values say what to set."""

from __future__ import annotations

import pytest

from labeldesk.config import Settings


def test_defaults_and_overrides() -> None:
    assert Settings.from_env({}) == Settings(lease_seconds=1800, source_rescan_seconds=30)
    env = {"LABELDESK_LEASE_SECONDS": " 90 ", "LABELDESK_SOURCE_RESCAN_SECONDS": "0"}
    assert Settings.from_env(env) == Settings(lease_seconds=90, source_rescan_seconds=0)


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_bad_values_name_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="LABELDESK_LEASE_SECONDS"):
        Settings.from_env({"LABELDESK_LEASE_SECONDS": value})
