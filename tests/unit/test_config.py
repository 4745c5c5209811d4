"""Server settings come from LABELDESK_* variables, read once; bad values say what to set."""

from __future__ import annotations

from pathlib import Path

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


def test_body_limit_and_cors_origins() -> None:
    assert Settings.from_env({}).max_body_bytes == 32 * 1024 * 1024
    assert Settings.from_env({}).cors_origins == ()
    env = {
        "LABELDESK_MAX_BODY_MB": "0.5",
        "LABELDESK_CORS_ORIGINS": "https://a.example, http://b.example:8000 ,",
    }
    settings = Settings.from_env(env)
    assert settings.max_body_bytes == 512 * 1024
    assert settings.cors_origins == ("https://a.example", "http://b.example:8000")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LABELDESK_MAX_BODY_MB": "lots"}, "LABELDESK_MAX_BODY_MB"),
        ({"LABELDESK_MAX_BODY_MB": "0"}, "body limit"),
        ({"LABELDESK_CORS_ORIGINS": "https://a.example/path"}, "no path"),
        ({"LABELDESK_CORS_ORIGINS": "a.example"}, "https://host"),
    ],
)
def test_bad_limits_and_origins_say_what_to_set(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_blobs_of_a_server_database_default_to_a_per_user_data_folder(tmp_path: Path) -> None:
    from labeldesk.app import default_blob_dir

    assert default_blob_dir(f"sqlite:///{tmp_path}/x.db") == tmp_path / "x.blobs"
    url = "postgresql+psycopg://postgres@db.example:55432/labels"
    got = default_blob_dir(url, {"XDG_DATA_HOME": str(tmp_path)})
    assert got == tmp_path / "labeldesk" / "db.example-55432-labels.blobs"
    assert default_blob_dir(url, {}) == Path.home() / ".local/share/labeldesk/db.example-55432-labels.blobs"


def test_the_job_lease_comes_from_the_environment() -> None:
    assert Settings.from_env({"LABELDESK_JOB_LEASE_SECONDS": "5"}).job_lease_seconds == 5
    assert Settings.from_env({}).job_lease_seconds == 60
