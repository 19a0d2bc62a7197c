"""Would an 8-bit model reach issue 14's 20 results per second? ONNX Runtime's static int8
quantization of the shipped model, against the float32 graph the worker runs, in one run.

    .venv/bin/python -m benchmarks.quantized --calibration 32 --films 100 --repeat 40

Both graphs come from the shipped safetensors (``inference.engines.onnx_model_bytes``); the int8
one is ``onnxruntime.quantization.quantize_static`` (QDQ or QOperator, per-channel int8 weights,
uint8 activations, MinMax calibration on ``--calibration`` cxr3 films, each with its served
views). Agreement is read on ``--films`` other cxr3 films, through the predictor's own
calibration (units, views, temperature): the probabilities the portal would store. Latency: one
film's batch (its three views, both inputs), one thread, the worker's session options
(``inference.engines.onnxruntime_session``), after warm-up. A benchmark, not an
engine: an int8 model gives other probabilities than the one the CV measured, so it would need
its own validation before it could serve (BENCHMARKS.md, section 1).
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CXR3 = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "cxr3"


def _quantize(fp32: Path, out: Path, calibration: list[np.ndarray], fmt: str) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self):
            x = next(self.batches, None)
            return None if x is None else {"x": x}

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(
        str(pre),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )


def _latency(session, x: np.ndarray, repeat: int) -> tuple[float, float]:
    for _ in range(5):
        session.run(["logits"], {"x": x})
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        session.run(["logits"], {"x": x})
        times.append(1000 * (time.perf_counter() - t))
    return float(np.median(times)), float(np.percentile(times, 95))


def main(argv: list[str] | None = None) -> int:
    from inference.engines import onnx_model_bytes, onnxruntime_session
    from inference.predictor import Predictor

    p = argparse.ArgumentParser(prog="python -m benchmarks.quantized")
    p.add_argument("--calibration", type=int, default=32)
    p.add_argument("--films", type=int, default=100)
    p.add_argument("--repeat", type=int, default=40)
    p.add_argument("--data", type=Path, default=CXR3)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    predictor = Predictor.load(device="cpu")
    rows = list(csv.DictReader((args.data / "manifest.csv").open()))
    random.Random(0).shuffle(rows)

    def batch(row: dict) -> np.ndarray:
        film = predictor.preprocess(Image.open(args.data / row["path"])).unsqueeze(0)
        return predictor._with_views(film).numpy()

    calibration = [batch(r) for r in rows[: args.calibration]]
    films = [batch(r) for r in rows[args.calibration : args.calibration + args.films]]
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        fp32.write_bytes(
            onnx_model_bytes(
                predictor.model, input_size=predictor.input_size, in_channels=len(predictor.inputs)
            )
        )
        sessions = {"float32": onnxruntime_session(str(fp32), threads=1)}
        for fmt in ("qdq", "qoperator"):
            out = Path(tmp) / f"int8-{fmt}.onnx"
            _quantize(fp32, out, calibration, fmt)
            sessions[f"int8 {fmt}"] = onnxruntime_session(str(out), threads=1)

        def probs(session, x: np.ndarray) -> torch.Tensor:
            return predictor._calibrated(torch.from_numpy(session.run(["logits"], {"x": x})[0]), 1)

        reference = [probs(sessions["float32"], x) for x in films]
        print(
            f"model {predictor.model_version}; {len(films)} cxr3 films, "
            f"{args.calibration} calibration films; one thread; batch {films[0].shape[0]}"
        )
        print("| graph | p50 ms | p95 ms | vs float32 | same label | max abs diff | p95 abs diff |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        base = None
        for name, session in sessions.items():
            p50, p95 = _latency(session, films[0], args.repeat)
            base = base or p50
            got = [probs(session, x) for x in films]
            diffs = [float((a - b).abs().max()) for a, b in zip(got, reference, strict=True)]
            same = sum(int(a.argmax() == b.argmax()) for a, b in zip(got, reference, strict=True))
            print(
                f"| {name} | {p50:.1f} | {p95:.1f} | {base / p50:.2f}x | {same}/{len(films)} "
                f"| {max(diffs):.2e} | {np.percentile(diffs, 95):.2e} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
