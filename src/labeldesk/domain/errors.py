"""Errors that carry a Clarifai status code.

Every layer raises :class:`ApiError` (or a subclass); the transports render it into the
``status`` field of the RPC's response message, so a client always receives the same shape.
"""

from __future__ import annotations

from clarifai_grpc.grpc.api.status import status_code_pb2

SUCCESS = status_code_pb2.SUCCESS
MIXED_STATUS = status_code_pb2.MIXED_STATUS
FAILURE = status_code_pb2.FAILURE
NOT_IMPLEMENTED = status_code_pb2.NOT_IMPLEMENTED
KEY_INVALID = status_code_pb2.CONN_KEY_INVALID
INSUFFICIENT_SCOPES = status_code_pb2.CONN_INSUFFICIENT_SCOPES
DOES_NOT_EXIST = status_code_pb2.CONN_DOES_NOT_EXIST
INVALID_REQUEST = status_code_pb2.CONN_INVALID_REQUEST
BAD_REQUEST_FORMAT = status_code_pb2.CONN_BAD_REQUEST_FORMAT
DUPLICATE_KEY = status_code_pb2.DATABASE_DUPLICATE_KEY
CONSTRAINT_VIOLATED = status_code_pb2.DATABASE_CONSTRAINT_VIOLATED
INTERNAL = status_code_pb2.INTERNAL_SERVER_ISSUE
TRY_AGAIN = status_code_pb2.TRY_AGAIN


class ApiError(Exception):
    """A failure a client can act on: a Clarifai status code plus a description of what to fix."""

    def __init__(self, code: int, description: str, details: str = "") -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.details = details

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.description!r}, {self.details!r})"


def invalid(description: str, details: str = "") -> ApiError:
    """A request the client must change (11102 CONN_INVALID_REQUEST)."""
    return ApiError(INVALID_REQUEST, description, details)


def not_found(kind: str, ident: str) -> ApiError:
    """A named resource that does not exist or is not visible to the caller (11101)."""
    return ApiError(DOES_NOT_EXIST, f"{kind} '{ident}' does not exist", f"no {kind} with id '{ident}'")
