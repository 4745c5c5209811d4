"""Explicit RPC registration (services/registry.py): the server's own services register every RPC
once with the right transaction kind, and inconsistent registrations stop the server at start-up."""

from __future__ import annotations

from typing import Any

import pytest

from labeldesk.app import build_services
from labeldesk.services import registry as rpc
from labeldesk.services.registry import Kind, RegistrationError, register

# Get/List RPCs that change state: they must run in a write transaction
READ_VERBS_THAT_WRITE = {"ListNextTaskAssignments"}
# Put RPCs registered as reads that write in short transactions of their own (services/uploads.py:
# a part's bytes are stored outside any write transaction, then the part is recorded)
WRITES_OF_THEIR_OWN = {"PutUploadContentParts"}


def test_the_services_register_each_rpc_once_with_its_transaction_kind() -> None:
    found = register(build_services())
    assert len(found) >= 54
    for name, reg in found.items():
        # Post* may be either (PostAnnotationsSearches only reads), and so may other verbs;
        # a read that writes anyway fails in the database (tests/api/test_pipeline.py)
        if name.startswith(("Get", "List")):
            assert reg.kind is (Kind.WRITE if name in READ_VERBS_THAT_WRITE else Kind.READ), name
        if name.startswith(("Put", "Patch", "Delete")):
            assert reg.kind is (Kind.READ if name in WRITES_OF_THEIR_OWN else Kind.WRITE), name
        assert reg.where.endswith("." + rpc.snake(name))
    assert found["ListAnnotations"].json_handler is not None
    assert not found["PostApps"].needs_app and found["PostInputs"].needs_app


class Inputs:
    @rpc.read("GetInput")
    def get_input(self, conn: Any, ctx: Any, request: Any) -> Any: ...


class MoreInputs:
    @rpc.write("GetInput")
    def get_input(self, conn: Any, ctx: Any, request: Any) -> Any: ...


class Forgotten:
    def post_inputs(self, conn: Any, ctx: Any, request: Any) -> Any: ...


class Misnamed:
    @rpc.write("PostInputs")
    def add_inputs(self, conn: Any, ctx: Any, request: Any) -> Any: ...


class Unknown:
    @rpc.write("PostLabels")
    def post_labels(self, conn: Any, ctx: Any, request: Any) -> Any: ...


class OldSpelling:
    @rpc.writes
    def list_next_task_assignments(self, conn: Any, ctx: Any, request: Any) -> Any: ...


@pytest.mark.parametrize(
    ("services", "text"),
    [
        (
            [Inputs(), MoreInputs()],
            "GetInput is registered twice: by Inputs.get_input and by MoreInputs.get_input",
        ),
        (
            [Forgotten()],
            "Forgotten.post_inputs is named after PostInputs but not registered: decorate it with @rpc.read(",
        ),
        ([Misnamed()], "Misnamed.add_inputs registers PostInputs; name the method post_inputs"),
        ([Unknown()], "Unknown.post_labels registers 'PostLabels', which is not a unary V2 RPC"),
    ],
)
def test_inconsistent_registrations_stop_the_start(services: list[object], text: str) -> None:
    with pytest.raises(RegistrationError) as e:
        register(services)
    assert text in str(e.value)


def test_the_old_bare_writes_registers_the_rpc_the_method_is_named_after() -> None:
    assert register([OldSpelling()])["ListNextTaskAssignments"].kind is Kind.WRITE
