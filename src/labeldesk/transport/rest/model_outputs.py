"""PostModelOutputs over REST, read without the generic JSON → proto reader.

A prediction's body is mostly images in base64: 270 kB for one 200 kB PNG, 8.5 MB for 32. The
generic path parses it with the standard library's JSON decoder, decodes every image into the
request proto, and the backend adapter encodes it to base64 again. This path parses the body with
``orjson`` and hands the client's base64 text through to the model service as it came
(:class:`~labeldesk.models.base.Image` ``b64``): Open Inference Protocol and Label Studio ML
backends take base64 anyway. The text is checked to be standard, padded base64 first (decoded with
SIMD ``pybase64`` and the result dropped), so what a backend receives is what the generic path would
have sent.

Only the plain shape is read here: ``inputs`` of ``{"id", "data": {"image": {"base64" | "url"}}}``
(or an id alone), ``user_app_id``, ``model_id``, ``version_id``, no query string. Anything else --
other fields, URL-safe or unpadded base64, text with a NUL, a body that is not JSON -- returns None
and the generic path answers it, refusals included, so both paths answer the same. Authentication,
the transaction and failures take the dispatcher's path (:meth:`Dispatcher.call_with`)."""

from __future__ import annotations

import binascii
from functools import partial
from typing import Any

import orjson
import pybase64
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf.message import Message
from sqlalchemy import Connection
from starlette.types import Scope

from labeldesk.models.base import Image
from labeldesk.services.context import RequestContext
from labeldesk.services.dispatch import Dispatcher
from labeldesk.services.model_outputs import Given, ModelOutputsService
from labeldesk.transport.rest.observe import STATE
from labeldesk.transport.rest.routes import RouteMatch
from labeldesk.transport.status import http_status
from labeldesk.transport.workers import HandOffExecutor, run_in_thread
from labeldesk.wire.printer import message_to_json, message_to_json_bytes, nested_json_bytes

RPC = "PostModelOutputs"
_TOP = frozenset({"inputs", "user_app_id", "model_id", "version_id"})
_PATH_FIELDS = {"user_app_id.user_id", "user_app_id.app_id", "model_id", "version_id"}


async def answer(
    dispatcher: Dispatcher,
    pool: HandOffExecutor,
    scope: Scope,
    match: RouteMatch,
    body: bytes,
    authorization: str | None,
    origin: str,
) -> tuple[int, bytes] | None:
    """The HTTP status and JSON answer to a plain PostModelOutputs body (the call run in
    ``pool``), or None: the generic path answers it."""
    if scope.get("query_string") or not set(match.path_params) <= _PATH_FIELDS:
        return None
    found = getattr(dispatcher.registry[RPC].handler, "__self__", None)
    if not isinstance(found, ModelOutputsService):
        return None
    service: ModelOutputsService = found
    skeleton, images = split_images(body)
    try:
        doc = orjson.loads(skeleton)
    except orjson.JSONDecodeError:
        return None
    read = read_body(doc, match.path_params, images)
    if read is None:
        return None
    req, given = read

    model: list[resources_pb2.Model] = []  # the outputs' model, rendered once (answer_json)

    def handler(conn: Connection, ctx: RequestContext, r: Any) -> Message:
        model.clear()  # (the transaction may run again)
        out: Message = service.predict(conn, ctx, r.model_id, r.version_id, given, model)
        return out

    call = partial(dispatcher.call_with, RPC, handler, req, authorization, origin)
    response: Message = await run_in_thread(pool, call)
    status = response.status  # type: ignore[attr-defined]
    scope.setdefault("state", {})[STATE] = (RPC, status.code, status.req_id)
    return http_status(status.code), answer_json(response, model[0] if model else None)


_BEFORE_MODEL = ("id", "status", "created_at")  # Output's fields numbered below ``model``
_rendered: dict[int, tuple[resources_pb2.Model, orjson.Fragment]] = {}


def answer_json(response: Any, model: resources_pb2.Model | None) -> bytes:
    """The JSON of a ``MultiOutputResponse`` whose outputs were left without ``model``: each
    output gets it back, in its place, as the printer renders it -- rendered once per cached
    ``Model`` (the model cache hands out one object per model and version), not once per output
    (at batch 32 the printer spent more time on 32 copies of the model than on everything else)."""
    if model is None or not response.outputs:
        return message_to_json_bytes(response)
    hit = _rendered.get(id(model))
    if hit is None or hit[0] is not model:
        if len(_rendered) >= 256:
            _rendered.clear()
        hit = _rendered[id(model)] = (model, orjson.Fragment(nested_json_bytes(model)))
    doc = message_to_json(response)
    doc["outputs"] = [_with_model(o, hit[1]) for o in doc["outputs"]]
    return orjson.dumps(doc)


def _with_model(output: dict[str, Any], model: orjson.Fragment) -> dict[str, Any]:
    out = {k: output[k] for k in _BEFORE_MODEL if k in output}
    out["model"] = model
    out.update(output)  # keys already there keep their place
    return out


def split_images(body: bytes) -> tuple[bytes, list[memoryview]]:
    """The body with the text of every ``"base64"`` member's string replaced by a placeholder
    (``\\u0000`` and its index), and those texts (views into ``body``, not copied). JSON is
    parsed only in what is left (a few hundred bytes), not in megabytes of images.

    A ``"base64"`` found inside some other string, or a value with escapes, makes placeholders
    land where :func:`read_body` does not take them (or base64 that does not check): the body
    then takes the generic path."""
    view = memoryview(body)
    parts: list[bytes | memoryview] = []
    texts: list[memoryview] = []
    pos = 0
    while (k := body.find(b'"base64"', pos)) >= 0:
        j = _skip_space(body, k + 8)
        if body[j : j + 1] != b":":
            break
        j = _skip_space(body, j + 1)
        end = body.find(b'"', j + 1)
        if body[j : j + 1] != b'"' or end < 0:
            break
        parts += [view[pos : j + 1], b"\\u0000%d" % len(texts)]
        texts.append(view[j + 1 : end])
        pos = end
    if not texts:
        return body, []
    parts.append(view[pos:])
    return b"".join(parts), texts


def _skip_space(body: bytes, i: int) -> int:
    while body[i : i + 1] in (b" ", b"\t", b"\r", b"\n"):
        i += 1
    return i


def read_body(
    doc: Any, path: dict[str, str], images: list[memoryview]
) -> tuple[service_pb2.PostModelOutputsRequest, list[Given]] | None:
    """The request (without its inputs: those are the ``Given``) and the inputs, or None when the
    body is not the plain shape. ``images``: the base64 texts :func:`split_images` took out."""
    if not isinstance(doc, dict) or not doc.keys() <= _TOP:
        return None
    uai = doc.get("user_app_id", {})
    if not isinstance(uai, dict) or not uai.keys() <= {"user_id", "app_id"}:
        return None
    fields = {
        "user_id": path.get("user_app_id.user_id", uai.get("user_id", "")),
        "app_id": path.get("user_app_id.app_id", uai.get("app_id", "")),
        "model_id": path.get("model_id", doc.get("model_id", "")),
        "version_id": path.get("version_id", doc.get("version_id", "")),
    }
    if not all(_text(v) for v in fields.values()):
        return None
    inputs = doc.get("inputs", [])
    if not isinstance(inputs, list):
        return None
    given: list[Given] = []
    for i in inputs:
        g = _given(i, images, len([x for x in given if x.image is not None]))
        if g is None:
            return None
        given.append(g)
    if len([g for g in given if g.image is not None]) != len(images):
        return None  # a placeholder landed elsewhere
    req = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id=fields["user_id"], app_id=fields["app_id"]),
        model_id=fields["model_id"],
        version_id=fields["version_id"],
    )
    return req, given


def _given(i: Any, images: list[memoryview], n: int) -> Given | None:
    """The ``n``-th image input's ``Given`` (its base64 the placeholder of ``images[n]``), or an
    input by URL or id; None when it is not the plain shape."""
    if not isinstance(i, dict) or not i.keys() <= {"id", "data"}:
        return None
    input_id = i.get("id", "")
    data = i.get("data", {})
    if not _text(input_id) or not isinstance(data, dict) or not data.keys() <= {"image"}:
        return None
    image = data.get("image", {})
    if not isinstance(image, dict) or len(image) > 1 or not image.keys() <= {"base64", "url"}:
        return None
    if "base64" in image:
        if image["base64"] != f"\0{n}" or n >= len(images) or not _standard_base64(images[n]):
            return None
        return Given(input_id, Image(b64=images[n]))
    if "url" in image:
        url = image["url"]
        if not _text(url) or not url:
            return None
        return Given(input_id, data=resources_pb2.Data(image=resources_pb2.Image(url=url)))
    return Given(input_id) if input_id else None


def _text(v: Any) -> bool:
    return isinstance(v, str) and "\0" not in v


def _standard_base64(text: memoryview) -> bool:
    """True when ``text`` is non-empty, standard, padded base64."""
    if not len(text) or len(text) % 4:
        return False
    try:
        pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
