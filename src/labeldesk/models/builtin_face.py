"""The built-in face detector: OpenCV's Haar cascade ``haarcascade_frontalface_default.xml``, which
ships inside ``opencv-python-headless`` (no server, no download). Each face is a region with the
concept ``face``; its value is the cascade's confidence (level weight) squashed into 0-1."""

from __future__ import annotations

import math
import threading
from typing import Any

import cv2 as _cv2
import numpy as np

from labeldesk.models.base import BAD_INPUT, BackendError, Image, Prediction, Region, Score

cv2: Any = _cv2  # OpenCV's stubs lack the cascade API
CONCEPT = "face"
_local = threading.local()  # a CascadeClassifier is not safe to share between threads


def _cascade() -> Any:
    c = getattr(_local, "cascade", None)
    if c is None:
        c = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        _local.cascade = c
    return c


def confidence(level_weight: float) -> float:
    """A cascade level weight (about -1..8) as a value in 0-1."""
    return 1.0 / (1.0 + math.exp(-(level_weight - 1.0)))


class FaceAdapter:
    def predict(self, images: list[Image]) -> list[Prediction]:
        return [self._one(i, im) for i, im in enumerate(images)]

    def _one(self, i: int, im: Image) -> Prediction:
        img = cv2.imdecode(np.frombuffer(im.raw(), np.uint8), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise BackendError(BAD_INPUT, f"image {i}: not an image OpenCV can decode")
        h, w = img.shape[:2]
        side = max(24, min(h, w) // 20)
        faces, _, weights = _cascade().detectMultiScale3(
            cv2.equalizeHist(img),
            scaleFactor=1.1,
            minNeighbors=5,
            minSize=(side, side),
            outputRejectLevels=True,
        )
        regions = []
        for (x, y, fw, fh), wt in zip(faces, np.asarray(weights).reshape(-1)):
            box = (y / h, x / w, (y + fh) / h, (x + fw) / w)
            regions.append(Region((Score(CONCEPT, round(confidence(float(wt)), 4)),), box=box))
        return Prediction(regions=regions)
