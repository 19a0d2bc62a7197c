"""Load the exported model once per process and classify radiographs.

p = Predictor.load()                      # shipped weights, sha256 verified
p.predict(open("cxr.png", "rb").read())   # {"probabilities": {...}, "label": ..., "model_version": ...}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from inference.constants import CLASSES
from inference.export import sha256_file
from inference.metrics import priority_band
from inference.model import DarkCovidNet
from inference.preprocessing import MARGIN, PREPROCESSING_VERSION, preprocess

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "darkcovidnet.safetensors"
ImageInput = bytes | Image.Image


class WeightsIntegrityError(RuntimeError):
    """The weights file is missing, altered, or does not match its metadata."""


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("INFERENCE_DEVICE=cuda but no CUDA device is available")
    return torch.device(device)


@dataclass
class Predictor:
    model: DarkCovidNet
    metadata: dict[str, Any]
    device: torch.device
    weights_path: Path
    classes: tuple[str, ...] = field(default=CLASSES)

    @classmethod
    def load(cls, path: Path | str | None = None, *, device: str = "auto") -> Predictor:
        from safetensors.torch import load_file

        weights = Path(path) if path else DEFAULT_WEIGHTS
        meta_path = weights.with_suffix(".json")
        if not weights.is_file() or not meta_path.is_file():
            raise WeightsIntegrityError(f"missing {weights} or its metadata {meta_path.name}")
        metadata = json.loads(meta_path.read_text())
        digest = sha256_file(weights)
        if digest != metadata.get("weights_sha256"):
            raise WeightsIntegrityError(
                f"{weights.name}: sha256 {digest[:12]}... does not match the metadata's "
                f"{str(metadata.get('weights_sha256'))[:12]}..."
            )
        if tuple(metadata["classes"]) != CLASSES:
            raise WeightsIntegrityError(f"class order {metadata['classes']} != {list(CLASSES)}")
        if str(metadata["preprocessing"]["version"]) != PREPROCESSING_VERSION:
            raise WeightsIntegrityError(
                f"weights expect preprocessing v{metadata['preprocessing']['version']}, "
                f"this code implements v{PREPROCESSING_VERSION}"
            )
        dev = resolve_device(device)
        model = DarkCovidNet(
            input_size=int(metadata["input_size"]), in_channels=int(metadata["in_channels"])
        )
        # safetensors holds tensors only: no pickle, no code execution on load.
        model.load_state_dict(load_file(str(weights), device="cpu"), strict=True)
        model.to(dev).eval()
        return cls(model=model, metadata=metadata, device=dev, weights_path=weights)

    # ------------------------------------------------------------------ facts
    @property
    def model_version(self) -> str:
        return self.metadata["model_version"]

    @property
    def weights_sha256(self) -> str:
        return self.metadata["weights_sha256"]

    @property
    def input_size(self) -> int:
        return int(self.metadata["input_size"])

    @property
    def temperature(self) -> float:
        return float(self.metadata.get("temperature", 1.0))

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self.metadata["thresholds"])

    def priority(self, covid_probability: float) -> str:
        t = self.thresholds
        return priority_band(covid_probability, high=t["covid_high"], medium=t["covid_medium"])

    # ------------------------------------------------------------------ inference
    @property
    def margin(self) -> float:
        return float(self.metadata["preprocessing"].get("margin", MARGIN))

    def preprocess(self, image: ImageInput) -> torch.Tensor:
        options = self.metadata["preprocessing"]
        return preprocess(
            image,
            size=self.input_size,
            margin=self.margin,
            equalize=options.get("equalize", "global"),
        )

    def probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities for a preprocessed batch [n, 1, s, s]."""
        with torch.inference_mode():
            logits = self.model(batch.to(self.device))
            return torch.softmax(logits.float() / self.temperature, dim=1).cpu()

    def _result(self, probs: torch.Tensor) -> dict[str, Any]:
        values = [float(v) for v in probs.tolist()]
        return {
            "probabilities": dict(zip(self.classes, values, strict=True)),
            "label": self.classes[max(range(len(values)), key=values.__getitem__)],
            "model_version": self.model_version,
        }

    def predict(self, image: ImageInput) -> dict[str, Any]:
        return self._result(self.probabilities(self.preprocess(image).unsqueeze(0))[0])

    def predict_many(self, images: Iterable[ImageInput], *, batch_size: int = 32) -> list[dict]:
        results: list[dict] = []
        chunk: list[torch.Tensor] = []
        for image in images:
            chunk.append(self.preprocess(image))
            if len(chunk) == batch_size:
                results.extend(self._predict_batch(chunk))
                chunk = []
        if chunk:
            results.extend(self._predict_batch(chunk))
        return results

    def _predict_batch(self, tensors: Sequence[torch.Tensor]) -> list[dict]:
        probs = self.probabilities(torch.stack(list(tensors)))
        return [self._result(p) for p in probs]
