"""Server settings, read from the environment in exactly one place.

Everything a running server can be tuned with lives in :class:`Settings`. ``Settings.from_env()``
reads the ``LABELDESK_*`` variables once, at start-up (``app.build``); tests build a server with
explicit values instead (``build(url, settings=Settings(lease_seconds=1))``), so no code path reads
``os.environ`` on a request.

========================================  =========  ===========================================
variable                                  default    meaning
========================================  =========  ===========================================
``LABELDESK_LEASE_SECONDS``               1800       how long a started, unsubmitted input of a
                                                     DYNAMIC task stays reserved for its worker
                                                     before it returns to the pool (and how long
                                                     a reviewer keeps inputs from REVIEW_START)
``LABELDESK_SOURCE_RESCAN_SECONDS``       30         how often (at most, per task) the queue looks
                                                     for *older* inputs that joined a dataset or
                                                     saved search after planning passed them
``LABELDESK_IMPORT_ROOT``                 (unset)    the server folder PostInputsDataSources may
                                                     import from (``file://`` URLs below it);
                                                     unset: server-side imports are refused
``LABELDESK_BLOB_DIR``                    (beside    where hosted files (inputs posted as bytes)
                                          the DB)    are kept: ``<db file stem>.blobs/`` next to
                                                     a SQLite file, a per-user data folder
                                                     named after the database else
``LABELDESK_PUBLIC_URL``                  (none)     the server's public base URL (e.g.
                                                     ``https://label.example.com``) for file
                                                     URLs; unset: the REST request's own host,
                                                     and the HTTP address for gRPC answers
``LABELDESK_FILES_URL_TTL_SECONDS``       3600       how long a signed file URL stays valid
``LABELDESK_MAX_UPLOAD_BYTES``            20971520   largest file accepted as bytes (20 MiB)
``LABELDESK_MAX_BODY_MB``                 32         the largest REST request body and gRPC
                                                     request message accepted, in MiB (bigger:
                                                     status 40033, HTTP 413)
``LABELDESK_MAX_ARCHIVE_BYTES``           10 GiB     largest archive accepted by PostUploads
                                                     (``content_length``, in bytes)
``LABELDESK_MAX_EXTRACTED_BYTES``         40 GiB     most bytes an uploaded archive may unpack to
                                                     (an import job over it fails beyond)
``LABELDESK_JOB_LEASE_SECONDS``           60         how long a background job (import, export,
                                                     auto-annotation) stays its worker's without
                                                     a progress report: a replica killed mid-job
                                                     has it taken over after this long
``LABELDESK_CORS_ORIGINS``                (none)     comma-separated browser origins allowed to
                                                     call the REST API cross-origin (default:
                                                     same-origin only, no CORS headers)
``LABELDESK_SCHED_BATCH``                 (off)      ``1``: run the server's threads under Linux's
                                                     SCHED_BATCH policy (less CPU per call,
                                                     slower wake-ups on a busy machine)
``LABELDESK_DB_CONCURRENCY``              2 a core   PostgreSQL: calls one server process runs
                                                     on the database at once (the others wait
                                                     their turn); 0: two per CPU core the
                                                     process may use
========================================  =========  ===========================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

LEASE_SECONDS_ENV = "LABELDESK_LEASE_SECONDS"
JOB_LEASE_SECONDS_ENV = "LABELDESK_JOB_LEASE_SECONDS"
RESCAN_SECONDS_ENV = "LABELDESK_SOURCE_RESCAN_SECONDS"
IMPORT_ROOT_ENV = "LABELDESK_IMPORT_ROOT"
BLOB_DIR_ENV = "LABELDESK_BLOB_DIR"
PUBLIC_URL_ENV = "LABELDESK_PUBLIC_URL"
FILES_TTL_ENV = "LABELDESK_FILES_URL_TTL_SECONDS"
MAX_UPLOAD_ENV = "LABELDESK_MAX_UPLOAD_BYTES"
MAX_BODY_MB_ENV = "LABELDESK_MAX_BODY_MB"
MAX_ARCHIVE_ENV = "LABELDESK_MAX_ARCHIVE_BYTES"
MAX_EXTRACTED_ENV = "LABELDESK_MAX_EXTRACTED_BYTES"
CORS_ORIGINS_ENV = "LABELDESK_CORS_ORIGINS"
SCHED_BATCH_ENV = "LABELDESK_SCHED_BATCH"
DB_CONCURRENCY_ENV = "LABELDESK_DB_CONCURRENCY"
MIB = 1024 * 1024
GIB = 1024 * MIB


def _number(env: Mapping[str, str], name: str, default: float, unit: str = "seconds") -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of {unit}; set it to e.g. {default:g}") from None
    if value < 0 or value != value or value == float("inf"):
        raise ValueError(f"{name}={raw!r} must be a finite number of {unit} >= 0")
    return value


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, which containers and ``taskset``
    narrow)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def _count(env: Mapping[str, str], name: str) -> int:
    """A whole number >= 0 (unset: 0)."""
    raw = env.get(name, "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise ValueError(f"{name}={raw!r} must be a whole number >= 0, e.g. 8 (0: the default)")
    return int(raw)


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(o for o in (part.strip() for part in env.get(name, "").split(",")) if o)


def check_origin(origin: str) -> str:
    """An origin as browsers send it (``scheme://host[:port]``, no path), or ValueError."""
    scheme, sep, rest = origin.partition("://")
    if origin != "*" and (scheme not in ("http", "https") or not sep or not rest or "/" in rest):
        raise ValueError(f"CORS origin {origin!r} must look like https://host[:port] (no path) or be '*'")
    return origin


@dataclass(frozen=True)
class Settings:
    #: a DYNAMIC worker's reservation of a started input (and a reviewer's of REVIEW_START items)
    lease_seconds: float = 1800.0
    #: minimum time between two scans of a task's source for old inputs that joined it late
    source_rescan_seconds: float = 30.0
    #: the server folder background imports may read (empty: none)
    import_root: str = ""
    #: a background job's lease: a job whose server died is taken up again after it runs out
    job_lease_seconds: float = 60.0
    #: the blob store's directory (None: beside the SQLite file, else a per-user data folder)
    blob_dir: str | None = None
    #: public base URL for file URLs (None: the REST request's host / the HTTP address)
    public_url: str | None = None
    #: lifetime of a signed file URL (0: expired at once, for tests)
    files_url_ttl_seconds: float = 3600.0
    #: largest file accepted as bytes (data.image.base64 ...)
    max_upload_bytes: int = 20 * MIB
    #: the largest REST body / gRPC request message accepted, in bytes
    max_body_bytes: int = 32 * MIB
    #: the largest archive PostUploads accepts (content_length)
    max_archive_bytes: int = 10 * GIB
    #: the most bytes an uploaded archive may unpack to, and the most files it may hold
    max_extracted_bytes: int = 40 * GIB
    max_archive_files: int = 5_000_000
    #: browser origins allowed to call the REST API cross-origin (empty: same-origin only)
    cors_origins: tuple[str, ...] = ()
    #: run the server's threads under Linux's SCHED_BATCH policy (transport/workers.py): less CPU
    #: per call, but slower wake-ups when other processes want the CPU (docs/performance.md)
    sched_batch: bool = False
    #: PostgreSQL: units of work one process runs at once (storage/unit_turns.py); 0: two per
    #: core it may use
    db_concurrency: int = 0

    def __post_init__(self) -> None:
        if self.job_lease_seconds < 1:
            raise ValueError("job_lease_seconds must be >= 1")
        if min(self.lease_seconds, self.source_rescan_seconds, self.files_url_ttl_seconds) < 0:
            raise ValueError("lease_seconds, source_rescan_seconds and files_url_ttl_seconds must be >= 0")
        if min(self.max_upload_bytes, self.max_archive_bytes, self.max_extracted_bytes) < 1:
            raise ValueError("max_upload_bytes, max_archive_bytes and max_extracted_bytes must be >= 1")
        if not 1024 <= self.max_body_bytes <= 2**31 - 1:
            raise ValueError("the body limit must be between 1 KiB and 2047 MiB")
        for origin in self.cors_origins:
            check_origin(origin)
        if self.db_concurrency < 0:
            raise ValueError("db_concurrency must be >= 0 (0: two per core)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env`` (default ``os.environ``); unset variables keep their defaults."""
        env = os.environ if env is None else env
        return cls(
            lease_seconds=_number(env, LEASE_SECONDS_ENV, cls.lease_seconds),
            source_rescan_seconds=_number(env, RESCAN_SECONDS_ENV, cls.source_rescan_seconds),
            max_body_bytes=round(_number(env, MAX_BODY_MB_ENV, cls.max_body_bytes / MIB, "MiB") * MIB),
            cors_origins=_origins(env, CORS_ORIGINS_ENV),
            import_root=env.get(IMPORT_ROOT_ENV, "").strip(),
            blob_dir=env.get(BLOB_DIR_ENV, "").strip() or None,
            public_url=env.get(PUBLIC_URL_ENV, "").strip().rstrip("/") or None,
            files_url_ttl_seconds=_number(env, FILES_TTL_ENV, cls.files_url_ttl_seconds),
            max_upload_bytes=int(_number(env, MAX_UPLOAD_ENV, cls.max_upload_bytes, "bytes")),
            job_lease_seconds=_number(env, JOB_LEASE_SECONDS_ENV, cls.job_lease_seconds),
            sched_batch=env.get(SCHED_BATCH_ENV, "").strip().lower() in ("1", "true", "yes", "on"),
            max_archive_bytes=int(_number(env, MAX_ARCHIVE_ENV, cls.max_archive_bytes, "bytes")),
            max_extracted_bytes=int(_number(env, MAX_EXTRACTED_ENV, cls.max_extracted_bytes, "bytes")),
            db_concurrency=_count(env, DB_CONCURRENCY_ENV),
        )
