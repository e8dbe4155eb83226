"""A tiny YOLOv8-shaped ONNX model made in the test: it ignores the picture and always answers
the same boxes, so the real OpenCV dnn path (load, blob, forward, parse) can be checked without
downloading a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT = 64


def make_model(path: Path, boxes: list[tuple[float, float, float, float, int, float]]) -> Path:
    """``boxes``: (cx, cy, w, h, coco_class, confidence) in the 64x64 input's pixels."""
    output = np.zeros((1, 84, len(boxes)), np.float32)
    for index, (cx, cy, w, h, class_id, confidence) in enumerate(boxes):
        output[0, 0:4, index] = (cx, cy, w, h)
        output[0, 4 + class_id, index] = confidence
    nodes = [
        # mean(images) * 0 + fixed answer: the input is used, the answer does not depend on it.
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Reshape", ["mean", "shape"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "answer"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, INPUT, INPUT])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, len(boxes)])],
        initializer=[
            numpy_helper.from_array(np.array([1, 1, 1], np.int64), "shape"),
            numpy_helper.from_array(np.zeros_like(output), "zero"),
            numpy_helper.from_array(output, "answer"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path
