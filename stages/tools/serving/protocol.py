"""The Open Inference Protocol's REST API (KServe v2; Triton's and MLServer's too), for the zoo.

Each model takes `image`: digits as MNIST stores them, shape [N, 28, 28] (1 <= N <=
MAX_IMAGES), UINT8 (0-255) or FP32 (the same 0-255 scale), as JSON `data` (flat,
row-major, or nested) or as raw bytes after the JSON (the protocol's binary tensor
extension, `binary_data_size`). It answers `probabilities`: FP32, [N, 10], as JSON
or, when asked (`binary_data`), as raw bytes. Errors are the protocol's: a status and
`{"error": "..."}` in one line.
"""

from __future__ import annotations

import json

import numpy as np

MAX_IMAGES = 1000
INPUT, OUTPUT = "image", "probabilities"
DATATYPES = {"UINT8": np.uint8, "FP32": np.float32}
HEADER_LENGTH = "Inference-Header-Content-Length"  # the binary extension's header


class ProtocolError(Exception):
    """A request the protocol refuses: its HTTP status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def server_metadata() -> dict:
    return {"name": "mnist-zoo", "version": "2", "extensions": ["binary_tensor_data"]}


def model_metadata(name: str, platform: str) -> dict:
    return {"name": name, "versions": ["1"], "platform": platform,
            "inputs": [{"name": INPUT, "datatype": "UINT8", "shape": [-1, 28, 28]}],
            "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, 10]}]}


def _json(text: bytes) -> dict:
    try:
        request = json.loads(text)
    except ValueError as error:  # not UTF-8, not JSON, a number of 4,300+ digits
        raise ProtocolError(400, f"the request is not JSON: {error}") from None
    except RecursionError:
        raise ProtocolError(400, "the request's JSON nests too deep") from None
    if not isinstance(request, dict):
        raise ProtocolError(400, "the request must be a JSON object with `inputs`")
    if "id" in request and not isinstance(request["id"], str):
        raise ProtocolError(400, "the request's `id` must be a string")
    outputs = request.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise ProtocolError(400, "`outputs` must be a list of objects, each with a `name`")
    for where in [request, *outputs, *(i for i in request.get("inputs") or []
                                      if isinstance(i, dict))]:
        if not isinstance(where.get("parameters", {}), dict):
            raise ProtocolError(400, "`parameters` must be an object")
    return request


def _input(request: dict) -> dict:
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict) \
            or inputs[0].get("name") != INPUT:
        raise ProtocolError(400, f"expected `inputs` to hold one tensor named {INPUT!r} "
                                 "(shape [N, 28, 28], UINT8 or FP32)")
    tensor = inputs[0]
    if not isinstance(tensor.get("datatype"), str) or tensor["datatype"] not in DATATYPES:
        raise ProtocolError(400, f"{INPUT}: datatype must be UINT8 or FP32, got "
                                 f"{tensor.get('datatype')!r}")
    shape = tensor.get("shape")
    if not (isinstance(shape, list) and len(shape) == 3 and shape[1:] == [28, 28]
            and isinstance(shape[0], int) and not isinstance(shape[0], bool)
            and 1 <= shape[0] <= MAX_IMAGES):
        raise ProtocolError(400, f"{INPUT}: shape must be [N, 28, 28] with 1 <= N <= "
                                 f"{MAX_IMAGES}, got {shape!r}")
    return tensor


def _array(tensor: dict, binary: bytes) -> np.ndarray:
    dtype, count = DATATYPES[tensor["datatype"]], tensor["shape"][0] * 28 * 28
    size = tensor.get("parameters", {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool):
            raise ProtocolError(400, f"{INPUT}: binary_data_size must be a whole number")
        needed = count * np.dtype(dtype).itemsize
        if size != needed or len(binary) != size:
            raise ProtocolError(400, f"{INPUT}: {len(binary)} bytes of binary data for "
                                     f"binary_data_size {size}; shape {tensor['shape']} of "
                                     f"{tensor['datatype']} takes {needed}")
        return np.frombuffer(binary, dtype=dtype).astype(np.float32)
    try:
        values = np.asarray(tensor.get("data"))
    except (TypeError, ValueError, OverflowError):
        raise ProtocolError(400, f"{INPUT}: `data` must be numbers") from None
    if values.dtype.kind not in "iuf":  # not strings, booleans, ragged lists or nothing
        raise ProtocolError(400, f"{INPUT}: `data` must be numbers")
    values = values.astype(np.float64).ravel()
    if values.size != count:
        raise ProtocolError(400, f"{INPUT}: {values.size} values for shape {tensor['shape']} "
                                 f"({count} expected)")
    if dtype is np.uint8 and not np.array_equal(values, np.round(values)):
        raise ProtocolError(400, f"{INPUT}: UINT8 data must be whole numbers 0-255")
    return values.astype(np.float32)


def parse_infer(body: bytes, header_length: str | None) -> tuple[np.ndarray, dict]:
    """An infer request's images as model input, (N, 28, 28, 1) float32 in [0, 1], and the
    request itself (for the answer's `id` and outputs)."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise ProtocolError(400, f"{HEADER_LENGTH} must be the JSON's length in bytes")
        text, binary = body[:int(header_length)], body[int(header_length):]
    else:
        text, binary = body, b""
    request = _json(text)
    tensor = _input(request)
    values = _array(tensor, binary)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 255:
        raise ProtocolError(400, f"{INPUT}: values must be intensities 0-255")
    for wanted in request.get("outputs", []):
        if wanted.get("name") != OUTPUT:
            raise ProtocolError(400, f"the only output is {OUTPUT!r}")
    images = (values / 255).reshape(-1, 28, 28, 1).astype(np.float32)
    return images, request


def infer_response(name: str, request: dict, probabilities: np.ndarray
                   ) -> tuple[bytes, dict[str, str]]:
    """The answer's body and its extra headers: JSON, with the probabilities as raw bytes
    after it when the request asked for binary data."""
    output = {"name": OUTPUT, "datatype": "FP32", "shape": list(probabilities.shape)}
    asked = next(iter(request.get("outputs", [])), {})
    binary = bool(asked.get("parameters", {}).get("binary_data")
                  or request.get("parameters", {}).get("binary_data_output"))
    data = np.ascontiguousarray(probabilities, dtype="<f4")
    if binary:
        output["parameters"] = {"binary_data_size": data.nbytes}
    else:
        output["data"] = data.ravel().tolist()
    answer = {"model_name": name, "model_version": "1", "outputs": [output]}
    if "id" in request:
        answer["id"] = request["id"]
    text = json.dumps(answer).encode()
    if not binary:
        return text, {}
    return text + data.tobytes(), {HEADER_LENGTH: str(len(text))}
