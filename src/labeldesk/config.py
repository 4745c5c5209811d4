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
========================================  =========  ===========================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

LEASE_SECONDS_ENV = "LABELDESK_LEASE_SECONDS"
RESCAN_SECONDS_ENV = "LABELDESK_SOURCE_RESCAN_SECONDS"
IMPORT_ROOT_ENV = "LABELDESK_IMPORT_ROOT"


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds; set it to e.g. {default:g}") from None
    if value < 0 or value != value or value == float("inf"):
        raise ValueError(f"{name}={raw!r} must be a finite number of seconds >= 0")
    return value


@dataclass(frozen=True)
class Settings:
    #: a DYNAMIC worker's reservation of a started input (and a reviewer's of REVIEW_START items)
    lease_seconds: float = 1800.0
    #: minimum time between two scans of a task's source for old inputs that joined it late
    source_rescan_seconds: float = 30.0
    #: the server folder background imports may read (empty: none)
    import_root: str = ""

    def __post_init__(self) -> None:
        if self.lease_seconds < 0 or self.source_rescan_seconds < 0:
            raise ValueError("lease_seconds and source_rescan_seconds must be >= 0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env`` (default ``os.environ``); unset variables keep their defaults."""
        env = os.environ if env is None else env
        return cls(
            lease_seconds=_seconds(env, LEASE_SECONDS_ENV, cls.lease_seconds),
            source_rescan_seconds=_seconds(env, RESCAN_SECONDS_ENV, cls.source_rescan_seconds),
            import_root=env.get(IMPORT_ROOT_ENV, "").strip(),
        )
