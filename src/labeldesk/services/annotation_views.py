"""How an annotation is shown: as a protobuf message (gRPC, and REST for most RPCs) and, for
ListAnnotations over REST, straight as JSON.

The JSON view exists for speed: a page of 1,000 annotations is ~10,000 messages for the generic
printer to walk, while the JSON view reads the ``data`` rendering stored with the row
(:func:`stored_data` writes it with the bytes) and builds the few top-level keys itself. It must
equal what the printer makes of :func:`annotation_proto`; ``tests/unit/test_annotation_views.py``
checks that on generated annotations and ``tests/api`` on stored ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.resources_pb2 import Annotation

from labeldesk.domain import annotation_rules as rules
from labeldesk.services.common import dict_to_struct, timestamp
from labeldesk.wire.printer import (
    NESTED_JSON_FORMAT,
    datetime_json,
    nested_json_bytes,
    plain_struct_json,
)


def stored_data(data: resources_pb2.Data) -> dict[str, Any]:
    """The columns that store an annotation's data: the bytes and their JSON rendering."""
    return {
        "data": data.SerializeToString(),
        "data_json": nested_json_bytes(data),
        "data_json_format": NESTED_JSON_FORMAT,
    }


def annotation_proto(m: Mapping[Any, Any], into: Annotation | None = None) -> Annotation:
    """An annotation as the API returns it, from a row mapping (with ``input_id``) or a new row,
    written into ``into`` (a response's ``annotations.add()``: no copy) or a new message."""
    a = Annotation() if into is None else into
    a.id = m["id"]
    a.input_id = m["input_id"]
    a.user_id = m["user_id"]
    a.model_version_id = m["model_version_id"]
    a.embed_model_version_id = m["embed_model_version_id"]
    a.task_id = m["task_id"] or ""
    a.trusted = m["trusted"]
    a.input_level = m["input_level"]
    a.status.code = m["status"]
    a.status.description = rules.STATUS_DESCRIPTIONS.get(m["status"], "")
    created = timestamp(m["created_at"])
    a.created_at.CopyFrom(created)
    a.modified_at.CopyFrom(created if m["modified_at"] == m["created_at"] else timestamp(m["modified_at"]))
    a.data.MergeFromString(m["data"])
    dict_to_struct(m["annotation_info"], a.annotation_info)
    return a


def annotation_json(m: Mapping[Any, Any], consensus_info: dict[str, Any] | None) -> dict[str, Any]:
    """What the JSON printer makes of :func:`annotation_proto` (plus ``consensus_info``) for a row
    with ``input_id``, keys in field-number order, without building the message."""
    out: dict[str, Any] = {}
    if m["id"]:
        out["id"] = m["id"]
    if m["input_id"]:
        out["input_id"] = m["input_id"]
    out["data"] = _data_json(m)
    out["status"] = {"code": m["status"], "description": rules.STATUS_DESCRIPTIONS.get(m["status"], "")}
    out["created_at"] = created = datetime_json(m["created_at"])
    out["modified_at"] = created if m["modified_at"] == m["created_at"] else datetime_json(m["modified_at"])
    if m["trusted"]:
        out["trusted"] = True
    if m["annotation_info"]:
        out["annotation_info"] = plain_struct_json(m["annotation_info"])
    if m["embed_model_version_id"]:
        out["embed_model_version_id"] = m["embed_model_version_id"]
    if m["user_id"]:
        out["user_id"] = m["user_id"]
    if m["model_version_id"]:
        out["model_version_id"] = m["model_version_id"]
    if m["input_level"]:
        out["input_level"] = True
    if consensus_info:
        out["consensus_info"] = plain_struct_json(consensus_info)
    if m["task_id"]:
        out["task_id"] = m["task_id"]
    return out


def _data_json(m: Mapping[Any, Any]) -> orjson.Fragment:
    """The stored rendering of ``data``, or a fresh one for rows written before renderings were
    stored (or by a server whose printer differed)."""
    if m["data_json_format"] == NESTED_JSON_FORMAT and m["data_json"] is not None:
        return orjson.Fragment(m["data_json"])
    return orjson.Fragment(nested_json_bytes(resources_pb2.Data.FromString(m["data"])))
