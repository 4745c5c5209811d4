"""The Open Inference Protocol (KServe v2 REST), as Triton, KServe, MLServer and Seldon serve it.

Request: ``POST {url}/v2/models/{model_name}/infer`` with one input tensor ``image`` of datatype
``BYTES``, shape ``[n]``, whose elements are the images' bytes in base64
(``parameters.content_type = "base64"``, MLServer's codec name).

Answer (outputs read by name; docs/models.md):

- ``scores`` FP32 ``[n, k]``: class scores → concepts; concept ids from an output ``labels`` (BYTES
  ``[k]`` or ``[n, k]``) or else the model's concepts in order;
- ``boxes`` FP32 ``[n, m, 4]``: relative ``[top, left, bottom, right]`` (TF Object Detection order),
  with ``box_scores`` ``[n, m]`` and ``box_labels`` (BYTES ``[n, m]`` or INT class indexes) → regions.
"""

from __future__ import annotations

from typing import Any

from labeldesk.models import http
from labeldesk.models.base import GARBAGE, BackendError, Image, Prediction, Region, Score, clamp01, number


class OipAdapter:
    def __init__(
        self, url: str, model_name: str, labels: list[str], token: str = "", timeout_s: float = 10.0
    ) -> None:
        self.endpoint = f"{url}/v2/models/{model_name}/infer"
        self.labels = labels
        self.token = token
        self.timeout_s = timeout_s

    def predict(self, images: list[Image]) -> list[Prediction]:
        # the body built as bytes: base64 needs no JSON escaping, so the images are not copied
        # through str and a JSON encoder (6 MB for 32 images of 200 kB), nor joined into one
        # buffer; base64 a client sent goes out as it came
        body = http.JsonParts(
            [
                b'{"inputs":[{"name":"image","shape":[%d],"datatype":"BYTES",' % len(images)
                + b'"parameters":{"content_type":"base64"},"data":["'
            ]
        )
        for n, i in enumerate(images):
            body += [b'","', i.base64()] if n else [i.base64()]
        body.append(b'"]}]}')
        answer = http.call("POST", self.endpoint, body, self.token, self.timeout_s)
        return parse_answer(answer, len(images), self.labels)


def _outputs(answer: Any) -> dict[str, list[Any]]:
    if not isinstance(answer, dict) or not isinstance(answer.get("outputs"), list):
        raise BackendError(GARBAGE, "the inference answer has no 'outputs' list")
    out: dict[str, list[Any]] = {}
    for o in answer["outputs"]:
        if (
            not isinstance(o, dict)
            or not isinstance(o.get("name"), str)
            or not isinstance(o.get("data"), list)
        ):
            raise BackendError(GARBAGE, "every output needs a 'name' and a flat 'data' list")
        out[o["name"]] = o["data"]
    return out


def _rows(data: list[Any], n: int, name: str) -> list[list[Any]]:
    """A flat row-major tensor of ``n`` rows split into rows."""
    if n == 0 or len(data) % n:
        raise BackendError(GARBAGE, f"output {name!r} has {len(data)} values, not a multiple of {n} images")
    w = len(data) // n
    return [data[i * w : (i + 1) * w] for i in range(n)]


def _label(v: Any, labels: list[str], where: str) -> str:
    if isinstance(v, str) and v:
        return v
    if isinstance(v, int | float) and not isinstance(v, bool) and 0 <= int(v) < len(labels):
        return labels[int(v)]
    raise BackendError(
        GARBAGE, f"{where}: {str(v)[:40]!r} is neither a label nor an index into {len(labels)} concepts"
    )


def parse_answer(answer: Any, n: int, labels: list[str]) -> list[Prediction]:
    outs = _outputs(answer)
    preds = [Prediction() for _ in range(n)]
    if "scores" in outs:
        rows = _rows(outs["scores"], n, "scores")
        names = outs.get("labels")
        for i, row in enumerate(rows):
            if names is not None:
                row_names = names if len(names) == len(row) else _rows(names, n, "labels")[i]
            else:
                row_names = labels
            if len(row_names) != len(row):
                raise BackendError(
                    GARBAGE, f"output 'scores' has {len(row)} classes but there are {len(row_names)} labels"
                )
            preds[i].concepts = [
                Score(_label(lab, labels, "labels"), clamp01(number(v, "scores")))
                for lab, v in zip(row_names, row)
            ]
    if "boxes" in outs:
        boxes = _rows(outs["boxes"], n, "boxes")
        scores = _rows(outs.get("box_scores", [1.0] * (len(outs["boxes"]) // 4)), n, "box_scores")
        blabels = _rows(outs["box_labels"], n, "box_labels") if "box_labels" in outs else None
        for i, flat in enumerate(boxes):
            if len(flat) % 4 or len(flat) // 4 != len(scores[i]):
                raise BackendError(
                    GARBAGE, "outputs 'boxes' and 'box_scores' do not match ([n, m, 4] and [n, m])"
                )
            for j in range(len(flat) // 4):
                top, left, bottom, right = (clamp01(number(v, "boxes")) for v in flat[4 * j : 4 * j + 4])
                if blabels is not None:
                    concept = _label(blabels[i][j], labels, "box_labels")
                elif labels:
                    concept = labels[0]
                else:
                    raise BackendError(
                        GARBAGE, "output 'boxes' without 'box_labels' needs a model with concepts"
                    )
                preds[i].regions.append(
                    Region(
                        (Score(concept, clamp01(number(scores[i][j], "box_scores"))),),
                        box=(top, left, bottom, right),
                    )
                )
    if "scores" not in outs and "boxes" not in outs:
        raise BackendError(
            GARBAGE, f"the answer has none of the outputs 'scores' or 'boxes' (it has {sorted(outs)})"
        )
    return preds
