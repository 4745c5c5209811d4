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


def test_hosted_file_settings() -> None:
    env = {
        "LABELDESK_BLOB_DIR": " /srv/files ",
        "LABELDESK_PUBLIC_URL": "https://label.example.com/",
        "LABELDESK_FILES_URL_TTL_SECONDS": "600",
        "LABELDESK_MAX_UPLOAD_BYTES": "1000",
    }
    got = Settings.from_env(env)
    assert (got.blob_dir, got.public_url, got.files_url_ttl_seconds, got.max_upload_bytes) == (
        "/srv/files",
        "https://label.example.com",
        600,
        1000,
    )
    assert Settings.from_env({}).blob_dir is None and Settings.from_env({}).public_url is None
    with pytest.raises(ValueError, match=r"LABELDESK_MAX_UPLOAD_BYTES.*bytes"):
        Settings.from_env({"LABELDESK_MAX_UPLOAD_BYTES": "big"})
