"""Person detection with OpenCV's HOG people detector, on motion frames, rate limited.

OpenCV is optional (no musl wheels: Home Assistant OS cannot always install it), so it is passed
in by the caller once it has been loaded; nothing here imports it at module level.
"""

from __future__ import annotations

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
        self._hog: Any = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.min_confidence = min_confidence
        self.upscale = upscale

    def detect(self, jpeg: bytes) -> list[Detection]:
        """People in a JPEG."""
        cv2 = self._cv2
        picture = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
        if picture is None:
            return []
        if self.upscale != 1.0:
            picture = cv2.resize(picture, None, fx=self.upscale, fy=self.upscale)
        boxes, weights = self._hog.detectMultiScale(
            picture, winStride=(8, 8), padding=(8, 8), scale=1.05
        )
        found = [
            Detection(
                "person",
                float(weight),
                tuple(int(v / self.upscale) for v in box),  # type: ignore[arg-type]
            )
            for box, weight in zip(boxes, np.ravel(weights), strict=True)
            if float(weight) >= self.min_confidence
        ]
        return _suppress_overlaps(found)


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

    def detect(self, jpeg: bytes) -> list[Detection]:
        """People and vehicles in a JPEG."""
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
