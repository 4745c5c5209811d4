"""Fixtures the SDK tests share with the API tests of the same feature."""

# a server importing from a folder with a COCO dataset (import_root), as tests/api/test_jobs.py uses
from tests.api.test_jobs import import_root, jobs_server  # noqa: F401
