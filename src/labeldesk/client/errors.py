"""The client's errors, apart from the client itself (urllib3, the request messages): the CLI
catches them on every command without loading the client."""

from __future__ import annotations

from clarifai_grpc.grpc.api.status import status_code_pb2

AUTH_CODES = frozenset(
    {
        status_code_pb2.CONN_KEY_INVALID,
        status_code_pb2.CONN_KEY_NOT_FOUND,
        status_code_pb2.CONN_TOKEN_INVALID,
        status_code_pb2.CONN_CREDENTIALS_INVALID,
    }
)


class RemoteError(Exception):
    """The call did not get an API answer (unreachable server, bad URL, not a Clarifai API)."""

    #: worth retrying (a connection dropped, the server busy) rather than a mistake to report
    transient: bool = False


class TransientError(RemoteError):
    transient = True


class ApiStatusError(RemoteError):
    """The server answered with a status other than SUCCESS."""

    def __init__(self, code: int, description: str, details: str = "") -> None:
        self.code, self.description, self.details = code, description, details
        name = status_code_pb2.StatusCode.Name(code) if code in status_code_pb2.StatusCode.values() else code
        hint = " — check --key (or LABELDESK_KEY / CLARIFAI_PAT)" if code in AUTH_CODES else ""
        super().__init__(f"{description or name}" + (f" ({details})" if details else "") + hint)
