"""Users and what the ``clarifai`` SDK asks of them: GetUser, and ListWorkflows (labeldesk runs
no workflows, so a user's or an app's list is empty)."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from sqlalchemy import Connection

from labeldesk.domain import errors
from labeldesk.services import registry as rpc
from labeldesk.services.common import timestamp
from labeldesk.services.context import RequestContext
from labeldesk.storage.repos import accounts


class UsersService:
    @rpc.user_level
    @rpc.read("GetUser")
    def get_user(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetUserRequest
    ) -> service_pb2.SingleUserResponse:
        """The caller's own account ('me' or their id); other users are not visible."""
        user_id = req.user_app_id.user_id
        if user_id not in ("", "me", ctx.caller_id):
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"user '{user_id}' does not exist or is not visible to you ('{ctx.caller_id}')",
                "GetUser answers your own account: use 'me' or your user id",
            )
        row = accounts.get_user(conn, ctx.caller_id)
        if row is None:  # pragma: no cover - a key's user always exists (keys cascade)
            raise errors.not_found("user", ctx.caller_id)
        return service_pb2.SingleUserResponse(
            user=resources_pb2.User(
                id=row.id,
                primary_email=row.email or "",
                first_name=row.first_name,
                last_name=row.last_name,
                created_at=timestamp(row.created_at),
            )
        )

    @rpc.user_level
    @rpc.read("ListWorkflows")
    def list_workflows(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListWorkflowsRequest
    ) -> service_pb2.MultiWorkflowResponse:
        return service_pb2.MultiWorkflowResponse()
