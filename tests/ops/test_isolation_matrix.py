"""Tenant isolation, generated from the served RPCs: every implemented RPC is called with requests
aimed at a victim app's objects, by every kind of caller, on both transports.

- another user's PAT, another app's key, and the victim's own app key cut down to one scope must
  be refused (or answer nothing of the victim's): no victim row changes, no victim text or key in
  any answer;
- a collaborator may work in the app but not do the owner's part (delete or edit the app, manage
  collaborators, see or manage the owner's keys): those calls change nothing and leak no key;
- the owner's PAT and app key get through (no 11008/11007), so the requests are real enough to
  reach the handlers and the refusals above mean something.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from labeldesk.app import RunningServer
from labeldesk.domain.scopes import required_scopes
from labeldesk.services import admin
from tests.helpers import unique
from tests.ops.victim import Victim, make_victim, meta, victim_rows

AUTH_DENIALS = {sc.CONN_KEY_INVALID, sc.CONN_INSUFFICIENT_SCOPES}
DENIALS = AUTH_DENIALS | {sc.CONN_DOES_NOT_EXIST, sc.CONN_INVALID_REQUEST}
OWNER_ONLY = {
    "DeleteApp",
    "PatchApps",
    "PostCollaborators",
    "DeleteCollaborators",
    "ListKeys",
    "PostKeys",
    "DeleteKey",
}
LOW_SCOPE = "Concepts:Get"
KINDS = (
    "Annotation",
    "Collaborator",
    "Concept",
    "Dataset",
    "Input",
    "Key",
    "App",
    "Search",
    "Task",
    "User",
    "Upload",
)


def _kind(rpc: str) -> str:
    """The resource an RPC is about, lower case (DeleteDatasetInputs -> input)."""
    found = [k for k in KINDS if k in rpc]
    return found[-1].lower() if found else ""


def _element(descriptor: Descriptor, v: Victim) -> Message | None:
    """One list element naming a victim object, for a repeated message field."""
    ids = v.ids
    by_type: dict[str, Any] = {
        "Input": lambda: r.Input(id=ids["input"]),
        "Concept": lambda: r.Concept(id=ids["concept"], name="renamed"),
        "Annotation": lambda: r.Annotation(id=ids["annotation"], input_id=ids["input"]),
        "Task": lambda: r.Task(id=ids["task"], name="renamed"),
        "Dataset": lambda: r.Dataset(id=ids["dataset"], description="changed"),
        "Search": lambda: r.Search(id=ids["search"], name="renamed"),
        "Key": lambda: r.Key(id=ids["key"], description="k", scopes=["All"]),
        "App": lambda: r.App(id=ids["app"], description="changed"),
        "Collaborator": lambda: r.Collaborator(user=r.User(id=ids["collaborator"])),
        "DatasetInput": lambda: r.DatasetInput(input=r.Input(id=ids["input"])),
    }
    make = by_type.get(descriptor.name)
    return make() if make else None


def victim_request(rpc: str, request_cls: type[Message], v: Victim) -> Message:
    """The RPC's request filled with the victim's ids wherever a field names an object."""
    req = request_cls()
    kind = _kind(rpc)
    for fd in req.DESCRIPTOR.fields:
        name = fd.name
        if name == "user_app_id":
            req.user_app_id.CopyFrom(v.uai)  # type: ignore[attr-defined]
        elif fd.message_type is not None and fd.is_repeated and not fd.message_type.GetOptions().map_entry:
            element = _element(fd.message_type, v)
            if element is not None:
                getattr(req, name).append(element)
        elif fd.type == fd.TYPE_STRING and fd.is_repeated and name.endswith("ids"):
            target = name[: -len("_ids")] if name != "ids" else kind
            if target in v.ids:
                getattr(req, name).append(v.ids[target])
        elif fd.type == fd.TYPE_STRING and not fd.is_repeated:
            if name == "action":
                req.action = "overwrite" if rpc.startswith("Patch") else ""  # type: ignore[attr-defined]
            elif name == "id" and kind in v.ids:
                req.id = v.ids[kind]  # type: ignore[attr-defined]
            elif name.endswith("_id"):  # an object the victim has, else one named like theirs
                setattr(req, name, v.ids.get(name[: -len("_id")], f"{v.marker.lower()}-{name}"))
    return req


class Matrix:
    def __init__(self, server: RunningServer, stubs: dict[str, Any], victim: Victim) -> None:
        self.server, self.stubs, self.victim = server, stubs, victim
        self.rpcs = sorted(server.app.dispatcher.implemented)
        self.tried: Counter[str] = Counter()
        self.problems: list[str] = []

    def call(self, who: str, token: str, rpc: str, transport: str) -> tuple[int, bytes]:
        route = self.server.app.dispatcher.routes[rpc]
        request_cls = GetMessageClass(route.method.input_type)
        answer = getattr(self.stubs[transport], rpc)(
            victim_request(rpc, request_cls, self.victim), metadata=meta(token)
        )
        self.tried[who] += 1
        return answer.status.code, answer.SerializeToString()

    def refused(self, who: str, token: str, rpcs: list[str], may_read: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Each call is refused or answers nothing of the victim's; no victim row changes."""
        db = self.server.app.db
        before = victim_rows(db, self.victim)
        for rpc in rpcs:
            for transport in ("grpc", "rest"):
                code, body = self.call(who, token, rpc, transport)
                leaked = [] if rpc in may_read else self.victim.leaked(body)
                if leaked or (
                    code == sc.SUCCESS and rpc not in may_read and not rpc.startswith(("List", "Post"))
                ):
                    self.problems.append(f"{who} {rpc} over {transport}: code {code}, leaked {leaked}")
        after = victim_rows(db, self.victim)
        for table in before:
            if before[table] != after[table]:
                gone, new = before[table] - after[table], after[table] - before[table]
                self.problems.append(f"{who}: victim's {table} changed: -{len(gone)} +{len(new)}")
        self.tried["rows checked"] += 2 * sum(len(rows) for rows in before.values())


@pytest.fixture
def matrix(server: RunningServer, rest_stub: Any, grpc_stub: Any) -> Matrix:
    victim = make_victim(server.app.db, grpc_stub)
    keys = grpc_stub.ListKeys(
        s.ListKeysRequest(user_app_id=r.UserAppIDSet(user_id=victim.owner)), metadata=meta(victim.pat)
    )
    app_keys = [k.id for k in keys.keys if any(a.id == victim.app_id for a in k.apps)]
    victim.ids["key"] = (app_keys or ["no-key"])[0]
    victim.ids["collaborator"] = unique("collab")
    return Matrix(server, {"grpc": grpc_stub, "rest": rest_stub}, victim)


def test_isolation_matrix(matrix: Matrix, figures: Counter[str]) -> None:
    db, v = matrix.server.app.db, matrix.victim
    intruder = unique("intruder")
    intruder_pat = admin.create_user(db, intruder, f"{intruder}@example.com")
    admin.create_app(db, intruder, "own-app")
    intruder_key = admin.create_app_key(db, intruder, "own-app")
    collaborator = v.ids["collaborator"]
    collaborator_pat = admin.create_user(db, collaborator, f"{collaborator}@example.com")
    admin.add_collaborator(db, v.owner, v.app_id, collaborator)
    weak_key = admin.create_app_key(db, v.owner, v.app_id, [LOW_SCOPE])
    v.secrets += [weak_key]

    rpcs = matrix.rpcs
    matrix.refused("another user's PAT", intruder_pat, rpcs)
    matrix.refused("another app's key", intruder_key, rpcs)
    allowed = {rpc for rpc in rpcs if required_scopes(rpc) == (LOW_SCOPE,)}
    matrix.refused(f"key with only {LOW_SCOPE}", weak_key, rpcs, may_read=allowed)
    owner_only = sorted(OWNER_ONLY & set(rpcs))
    matrix.refused("collaborator", collaborator_pat, owner_only)

    # The checks can fail: the owner reading and changing the app trips both of them.
    assert not matrix.problems, "\n".join(matrix.problems)
    matrix.refused("owner (detector check)", v.pat, ["GetInput", "PatchConcepts"])
    tripped = " ".join(matrix.problems)
    assert "GetInput over grpc" in tripped and "victim's concepts changed" in tripped, tripped
    matrix.problems.clear()

    # The owner gets through: what was refused above was refused for who asked, not how.
    destructive_last = sorted(
        rpcs, key=lambda rpc: (rpc in ("DeleteApp", "DeleteKey"), rpc.startswith("Delete"), rpc)
    )
    user_level = {rpc for rpc in rpcs if not matrix.server.app.dispatcher.routes[rpc].needs_app}
    for who, token, exempt in (
        ("owner's app key", v.app_key, user_level | {rpc for rpc in rpcs if "Key" in rpc} | {"DeleteApp"}),
        ("owner's PAT", v.pat, set()),
    ):
        for rpc in destructive_last:
            if rpc in exempt:
                continue
            code, _ = matrix.call(who, token, rpc, "grpc")
            if code in AUTH_DENIALS:
                matrix.problems.append(f"{who} was refused {rpc} ({code})")

    combos = sum(n for who, n in matrix.tried.items() if who != "rows checked" and "detector" not in who)
    figures["isolation: served RPCs"] = len(rpcs)
    figures["isolation: RPC x credential x transport calls"] = combos
    figures["isolation: victim rows compared"] = matrix.tried["rows checked"]
    print(f"isolation matrix: {len(rpcs)} RPCs, {dict(matrix.tried)}")
    assert not matrix.problems, "\n".join(matrix.problems)


def test_an_app_key_cannot_see_or_delete_its_owners_pats(matrix: Matrix) -> None:
    v = matrix.victim
    for transport in ("grpc", "rest"):
        code, body = matrix.call("owner's app key", v.app_key, "ListKeys", transport)
        assert code in AUTH_DENIALS and v.pat.encode() not in body, (transport, code)
    request = s.DeleteKeyRequest(user_app_id=v.uai, key_id=v.pat)
    assert matrix.stubs["grpc"].DeleteKey(request, metadata=meta(v.app_key)).status.code in AUTH_DENIALS
    assert matrix.stubs["grpc"].ListApps(s.ListAppsRequest(), metadata=meta(v.pat)).status.code == sc.SUCCESS
