"""The Label Studio ML backend protocol: ``GET /health``, ``POST /setup``, ``POST /predict``.

A predict request carries one Label Studio task per image, ``{"id": i, "data": {"image": ...}}``:
the image's public URL when it has one, else a ``data:`` URI with its bytes; and a labeling config
listing the model's concepts. Results in percent units become Clarifai regions with relative
coordinates: ``rectanglelabels`` → boxes, ``polygonlabels`` → polygons, ``choices`` → image concepts;
each result's ``score`` (else the prediction's) is the concepts' value.
"""

from __future__ import annotations

import math
from typing import Any
from xml.sax.saxutils import quoteattr

from labeldesk.models import http
from labeldesk.models.base import GARBAGE, BackendError, Image, Prediction, Region, Score, clamp01, number

PROJECT = "labeldesk"


def label_config(labels: list[str]) -> str:
    items = "".join(f"<Label value={quoteattr(x)}/>" for x in labels)
    choices = "".join(f"<Choice value={quoteattr(x)}/>" for x in labels)
    return (
        '<View><Image name="image" value="$image"/>'
        f'<RectangleLabels name="label" toName="image">{items}</RectangleLabels>'
        f'<PolygonLabels name="polygon" toName="image">{items}</PolygonLabels>'
        f'<Choices name="choice" toName="image">{choices}</Choices></View>'
    )


def _mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


class LsMlAdapter:
    def __init__(self, url: str, labels: list[str], token: str = "", timeout_s: float = 10.0) -> None:
        self.url = url
        self.labels = labels
        self.token = token
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return http.call(method, self.url + path, body, self.token, self.timeout_s)

    def health(self) -> Any:
        return self._call("GET", "/health")

    def setup(self) -> Any:
        return self._call("POST", "/setup", {"project": PROJECT, "schema": label_config(self.labels)})

    def predict(self, images: list[Image]) -> list[Prediction]:
        tasks = [
            {
                "id": i,
                "data": {
                    "image": im.url
                    if im.url.startswith(("http://", "https://"))
                    else f"data:{_mime(im.head())};base64,{str(im.base64(), 'ascii')}"
                },
            }
            for i, im in enumerate(images)
        ]
        body = {"tasks": tasks, "project": PROJECT, "label_config": label_config(self.labels), "params": {}}
        return parse_answer(self._call("POST", "/predict", body), len(images))


def parse_answer(answer: Any, n: int) -> list[Prediction]:
    """``{"results": [...]}`` (label-studio-ml 1.x) or a bare list (older backends), one per task."""
    results = answer.get("results") if isinstance(answer, dict) else answer
    if not isinstance(results, list) or len(results) != n:
        got = len(results) if isinstance(results, list) else type(results).__name__
        raise BackendError(GARBAGE, f"/predict answered {got} predictions for {n} tasks")
    return [_prediction(r, i) for i, r in enumerate(results)]


def _prediction(r: Any, i: int) -> Prediction:
    if not isinstance(r, dict) or not isinstance(r.get("result", []), list):
        raise BackendError(GARBAGE, f"prediction {i}: expected an object with a 'result' list")
    default = number(r.get("score", 1.0), f"prediction {i}.score")
    p = Prediction()
    for j, item in enumerate(r.get("result", [])):
        where = f"prediction {i}.result[{j}]"
        if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
            raise BackendError(GARBAGE, f"{where}: expected an object with a 'value'")
        value = item["value"]
        score = clamp01(number(item.get("score", default), f"{where}.score"))
        kind = item.get("type")
        names = value.get(str(kind), [])
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
            raise BackendError(GARBAGE, f"{where}.value.{kind}: expected a list of labels")
        concepts = tuple(Score(x, score) for x in names)
        if kind == "choices":
            p.concepts.extend(concepts)
        elif kind == "rectanglelabels":
            p.regions.append(Region(concepts, box=_box(value, where)))
        elif kind == "polygonlabels":
            pts = value.get("points")
            if not isinstance(pts, list) or len(pts) < 3:
                raise BackendError(GARBAGE, f"{where}.value.points: expected 3 or more [x, y] points")
            poly = tuple(_point(pt, f"{where}.value.points") for pt in pts)
            p.regions.append(Region(concepts, polygon=poly))
        # other result types (keypoints, text, brush) carry nothing labeldesk stores: skipped
    return p


def _point(pt: Any, where: str) -> tuple[float, float]:
    if not isinstance(pt, list | tuple) or len(pt) != 2:
        raise BackendError(GARBAGE, f"{where}: expected [x, y] pairs in percent")
    return clamp01(number(pt[0], where) / 100), clamp01(number(pt[1], where) / 100)


def _box(v: dict[str, Any], where: str) -> tuple[float, float, float, float]:
    x, y = number(v.get("x"), f"{where}.value.x"), number(v.get("y"), f"{where}.value.y")
    w, h = number(v.get("width"), f"{where}.value.width"), number(v.get("height"), f"{where}.value.height")
    rot = math.radians(number(v.get("rotation", 0), f"{where}.value.rotation"))
    if rot:  # the axis-aligned box around the rotated one (rotation about the top-left corner)
        corners = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
        xs = [x + cx * math.cos(rot) - cy * math.sin(rot) for cx, cy in corners]
        ys = [y + cx * math.sin(rot) + cy * math.cos(rot) for cx, cy in corners]
        return clamp01(min(ys) / 100), clamp01(min(xs) / 100), clamp01(max(ys) / 100), clamp01(max(xs) / 100)
    return clamp01(y / 100), clamp01(x / 100), clamp01((y + h) / 100), clamp01((x + w) / 100)
