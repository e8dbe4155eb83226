"""Person detection with OpenCV's HOG people detector, on motion frames, rate limited.

OpenCV is optional (no musl wheels: Home Assistant OS cannot always install it), so it is passed
in by the caller once it has been loaded; nothing here imports it at module level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import importlib
from types import ModuleType
from typing import Any

import numpy as np


def load_opencv() -> ModuleType | None:
    """OpenCV 4.x with the HOG people detector, or None where it is missing or unusable."""
    try:
        cv2 = importlib.import_module("cv2")
    except ImportError:
        return None
    if not hasattr(cv2, "HOGDescriptor"):  # OpenCV 5 dropped HOG
        return None
    return cv2


# Motion regions looked at per picture, and the height a crop is scaled to at least.
MAX_REGIONS = 3
MIN_CROP_HEIGHT = 160


@dataclass(frozen=True, slots=True)
class Detection:
    """Something found in a picture, with its box in picture pixels."""

    label: str
    confidence: float
    box: tuple[int, int, int, int]  # x, y, width, height


class PersonDetector:
    """HOG + linear SVM pedestrian detector (Dalal-Triggs) from OpenCV.

    CPU-heavy (about 80 ms for a D1 picture here): call :meth:`detect` from an executor.
    """

    def __init__(self, cv2: ModuleType, *, min_confidence: float = 1.0, upscale: float = 1.5):
        """``upscale``: people far away are smaller than HOG's 64x128 window."""
        self._cv2 = cv2
        # One thread: HOG on both cores starves Home Assistant's event loop on small machines;
        # detection is rate limited anyway.
        cv2.setNumThreads(1)
        self._hog: Any = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.min_confidence = min_confidence
        self.upscale = upscale

    def detect(
        self, jpeg: bytes, regions: Sequence[tuple[float, float, float, float]] | None = None
    ) -> list[Detection]:
        """People in a JPEG; only inside ``regions`` (x, y, w, h as fractions) when given.

        Looking only where something moved is what makes HOG affordable: a D1 picture costs
        hundreds of ms, a crop around a moving person a small part of that.
        """
        cv2 = self._cv2
        picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
        if picture is None:
            return []
        height, width = picture.shape[:2]
        if regions is None:
            return _suppress_overlaps(self._detect_in(picture, 0, 0, self.upscale))
        found: list[Detection] = []
        for rx, ry, rw, rh in list(regions)[:MAX_REGIONS]:
            # Room around the blob: a walking person's blob is smaller than the person.
            x0 = max(0, int((rx - rw * 0.5) * width))
            y0 = max(0, int((ry - rh * 0.75) * height))
            x1 = min(width, int((rx + rw * 1.5) * width))
            y1 = min(height, int((ry + rh * 1.5) * height))
            if x1 - x0 < 16 or y1 - y0 < 32:
                continue
            crop = picture[y0:y1, x0:x1]
            # HOG's window is 64x128 with padding: small crops are scaled up to fit people.
            scale = max(self.upscale, MIN_CROP_HEIGHT / crop.shape[0], 72 / crop.shape[1])
            found += self._detect_in(crop, x0, y0, scale)
        return _suppress_overlaps(found)

    def _detect_in(self, picture: Any, x0: int, y0: int, scale: float) -> list[Detection]:
        if scale != 1.0:
            picture = self._cv2.resize(picture, None, fx=scale, fy=scale)
        boxes, weights = self._hog.detectMultiScale(
            picture, winStride=(8, 8), padding=(8, 8), scale=1.05
        )
        return [
            Detection(
                "person",
                float(weight),
                (
                    x0 + int(box[0] / scale),
                    y0 + int(box[1] / scale),
                    int(box[2] / scale),
                    int(box[3] / scale),
                ),
            )
            for box, weight in zip(boxes, np.ravel(weights), strict=True)
            if float(weight) >= self.min_confidence
        ]


def _suppress_overlaps(found: list[Detection], limit: float = 0.4) -> list[Detection]:
    """Keep the strongest of boxes that overlap more than ``limit`` (intersection over union)."""
    kept: list[Detection] = []
    for candidate in sorted(found, key=lambda d: d.confidence, reverse=True):
        if all(_iou(candidate.box, other.box) <= limit for other in kept):
            kept.append(candidate)
    return kept


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0, min(ay + ah, by + bh) - max(ay, by))
    overlap = width * height
    union = aw * ah + bw * bh - overlap
    return overlap / union if union else 0.0


# COCO class numbers of the things an alert is about.
COCO_LABELS = {0: "person", 1: "vehicle", 2: "vehicle", 3: "vehicle", 5: "vehicle", 7: "vehicle"}


class OnnxDetector:
    """A YOLO-style COCO model (YOLOv5 or YOLOv8 ONNX export) run with OpenCV's dnn module.

    Finds people and vehicles (bicycle, car, motorcycle, bus, truck). CPU-heavy: executor only.
    """

    def __init__(
        self,
        cv2: ModuleType,
        model_path: str,
        *,
        input_size: int = 640,
        min_confidence: float = 0.5,
    ) -> None:
        """Load the model (raises ``cv2.error`` if OpenCV cannot read it)."""
        self._cv2 = cv2
        self._net: Any = cv2.dnn.readNetFromONNX(model_path)
        self.input_size = input_size
        self.min_confidence = min_confidence

    def detect(
        self, jpeg: bytes, regions: Sequence[tuple[float, float, float, float]] | None = None
    ) -> list[Detection]:
        """People and vehicles in a JPEG (the model sees the whole picture: ``regions`` unused)."""
        cv2 = self._cv2
        picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
        if picture is None:
            return []
        height, width = picture.shape[:2]
        size = self.input_size
        blob = cv2.dnn.blobFromImage(picture, 1 / 255, (size, size), swapRB=True, crop=False)
        self._net.setInput(blob)
        output = np.asarray(self._net.forward())
        if output.ndim != 3:
            return []
        rows = output[0]
        if rows.shape[0] in (84, 85) and rows.shape[1] not in (84, 85):
            rows = rows.T  # YOLOv8: (84, boxes) -> (boxes, 84)
        # YOLOv5: box, objectness, 80 class scores; YOLOv8: box, 80 class scores.
        scores = rows[:, 5:] * rows[:, 4:5] if rows.shape[1] == 85 else rows[:, 4:]
        classes = scores.argmax(axis=1)
        confidences = scores[np.arange(len(scores)), classes]
        found = []
        for row, class_id, confidence in zip(rows, classes, confidences, strict=True):
            label = COCO_LABELS.get(int(class_id))
            if label is None or float(confidence) < self.min_confidence:
                continue
            cx, cy, w, h = (float(v) for v in row[:4])
            sx, sy = width / size, height / size
            box = (int((cx - w / 2) * sx), int((cy - h / 2) * sy), int(w * sx), int(h * sy))
            found.append(Detection(label, float(confidence), box))
        return _suppress_overlaps(found)
