"""The one table from Clarifai status codes to HTTP statuses (REST transport).

gRPC calls always complete with OK and carry the code in ``response.status`` (as Clarifai's
own server does: its client reads the status instead of catching RpcErrors). REST answers the
same JSON body with the HTTP status below, so curl users and proxies see failures too.
"""

from __future__ import annotations

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

HTTP_OF: dict[int, int] = {
    sc.SUCCESS: 200,
    sc.MIXED_STATUS: 207,
    sc.FAILURE: 400,
    sc.TRY_AGAIN: 503,
    sc.NOT_IMPLEMENTED: 501,
    sc.CONN_ACCOUNT_ISSUES: 401,
    sc.CONN_TOKEN_INVALID: 401,
    sc.CONN_CREDENTIALS_INVALID: 401,
    sc.CONN_KEY_INVALID: 401,
    sc.CONN_KEY_NOT_FOUND: 401,
    sc.CONN_INSUFFICIENT_SCOPES: 403,
    sc.CONN_BAD_REQUEST_FORMAT: 400,
    sc.CONN_DOES_NOT_EXIST: 404,
    sc.CONN_INVALID_REQUEST: 400,
    sc.CONN_METHOD_NOT_ALLOWED: 405,
    sc.CONN_INVALID_RANGE: 400,
    sc.DATABASE_DUPLICATE_KEY: 409,
    sc.DATABASE_CONSTRAINT_VIOLATED: 409,
    sc.TASK_CONFLICT: 409,
    sc.TASK_NOT_IMPLEMENTED: 501,
    sc.TASK_MISSING: 404,
    sc.TASK_PERMISSION_DENIED: 403,
    sc.ANNOTATION_INVALID_ARGUMENT: 400,
    sc.ANNOTATION_PERMISSION_DENIED: 403,
    sc.RPC_MAX_MESSAGE_SIZE_EXCEEDED: 413,
    sc.INTERNAL_SERVER_ISSUE: 500,
}


def http_status(code: int) -> int:
    """HTTP status for a Clarifai code: the table, else 400 for 1xxxx-5xxxx client errors."""
    if code in HTTP_OF:
        return HTTP_OF[code]
    return 500 if code >= 98000 else 400
