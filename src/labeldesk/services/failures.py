"""The one place a failure the client cannot act on becomes an answer: logged with its traceback
and the request id, answered as INTERNAL_SERVER_ISSUE (HTTP 500) saying which id to report.

The dispatcher (both Clarifai transports), the REST request parsing and the staged-workflow API
all answer through :func:`guarded`, so the "internal error" looks the same everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from labeldesk.domain import errors

log = logging.getLogger("labeldesk")
R = TypeVar("R")


def internal_error(where: str, req_id: str) -> errors.ApiError:
    """Log the exception being handled and answer the client's view of it."""
    log.exception("internal error in %s (req_id %s)", where, req_id)
    return errors.ApiError(
        errors.INTERNAL,
        "internal error: the request was not carried out",
        f"report req_id {req_id} to the server's operator",
    )


def guarded(where: str, req_id: str, work: Callable[[], R]) -> R | errors.ApiError:
    """``work()``'s answer, or the error to answer instead: an :class:`~errors.ApiError` as
    raised, anything else as :func:`internal_error`."""
    try:
        return work()
    except errors.ApiError as e:
        return e
    except Exception:
        return internal_error(where, req_id)
