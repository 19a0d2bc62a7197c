"""Load the exported model once per process and classify radiographs.

    p = Predictor.load()                        # shipped weights, metadata checked (metadata.py)
    p.analyse(image, explain=("predicted", "covid"))   # pipeline.Analysis, Grad-CAM included
    p.analyse_batch(images, explain=(...))      # the same for several images, one forward pass
    p.predict(image_or_bytes)                   # {"probabilities", "label", "model_version"}
    p.predict_many(images)                      # batched predict (evaluation CLIs)

The portal goes through ``inference.pipeline`` (``load_predictor``); ``analyse`` preprocesses
once and runs a single forward pass for the probabilities and the heatmaps.

Test-time augmentation: when the metadata names views (``"tta": {"views": [...]}``, written by
the export of a CV that was measured with them), every probability is the mean of the calibrated
probabilities over those views of the preprocessed film (``inference.tta``), the form the CV's
calibration and thresholds were fitted for. The first view is the film itself: Grad-CAM explains
it, for the class the averaged probabilities pick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from inference.constants import CLASSES
from inference.engines import Engine, EngineUnavailable, engine_build
from inference.ensemble import build_classifier
from inference.explain import Frame, head_cams, laid_on_film
from inference.lungs import classifier_lungs
from inference.metadata import WeightsIntegrityError, model_inputs, priority_band, read_metadata
from inference.pipeline import PREDICTED, Analysis
from inference.preprocessing import MARGIN, MEAN, STD, load_grayscale, preprocess
from inference.tta import tta_views

__all__ = ["DEFAULT_WEIGHTS", "Predictor", "WeightsIntegrityError", "resolve_device"]

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "darkcovidnet.safetensors"
ImageInput = bytes | Image.Image


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
    model: torch.nn.Module  # DarkCovidNet or DarkCovidNetEnsemble
    metadata: dict[str, Any]
    device: torch.device
    weights_path: Path
    classes: tuple[str, ...] = field(default=CLASSES)
    # The forward pass (inference/engines.py); None: the torch module itself (eager).
    engine: Engine | None = field(default=None, repr=False)
    # inference.lungs.LungFinder when the model was trained with the lung crop.
    lungs: Any = field(default=None, repr=False)

    @classmethod
    def load(
        cls,
        path: Path | str | None = None,
        *,
        device: str = "auto",
        engine: str = "eager",
        threads: int | None = None,
        engine_cache: Path | str | None = None,
    ) -> Predictor:
        """``engine``: one of ``inference.engines.ENGINES`` or ``"auto"`` (the fastest that
        loads here; torch when none does); ``threads``: torch's and the engine's threads in
        this process (``None``: torch's default); ``engine_cache``: where an exported graph is
        kept between processes."""
        from safetensors.torch import load_file

        weights = Path(path) if path else DEFAULT_WEIGHTS
        metadata = read_metadata(weights)  # sha256, class order, preprocessing version
        dev = resolve_device(device)
        # One DarkCovidNet, or the fold models' ensemble the metadata describes (same stages).
        model = build_classifier(metadata)
        # safetensors holds tensors only: no pickle, no code execution on load.
        model.load_state_dict(load_file(str(weights), device="cpu"), strict=True)
        model.to(dev).eval()
        if threads:
            torch.set_num_threads(threads)  # per process: see BENCHMARKS.md, "threads"
        lungs = metadata["preprocessing"].get("lungs")
        predictor = cls(
            model=model,
            metadata=metadata,
            device=dev,
            weights_path=weights,
            lungs=classifier_lungs(weights.parent / lungs["weights_file"], lungs)
            if lungs
            else None,
        )
        if engine != "eager":
            predictor.engine = engine_build(
                engine,
                model,
                threads=threads or torch.get_num_threads(),
                input_size=predictor.input_size,
                in_channels=len(predictor.inputs),
                weights_sha256=predictor.weights_sha256,
                cache_dir=engine_cache,
            )
            if predictor.lungs is not None and predictor.engine.name == "onnxruntime":
                predictor.lungs.try_onnxruntime(threads=threads or 1, cache_dir=engine_cache)
        return predictor

    # ------------------------------------------------------------------ facts
    @property
    def model_version(self) -> str:
        return self.metadata["model_version"]

    @property
    def serving_version(self) -> str:
        """What a stored Prediction records: the model, and the engine when it is not torch's
        own eager pass (e.g. ``darkcovidnet@1f4c59277808+onnxruntime-1.32.0``)."""
        if self.engine is None or self.engine.name == "eager":
            return self.model_version
        return f"{self.model_version}+{self.engine.version}"

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

    @property
    def tta_views(self) -> tuple[str, ...]:
        """The test-time views served (identity first), or () for the film alone."""
        return tuple(self.metadata.get("tta", {}).get("views", ()))

    @property
    def normalization(self) -> tuple[float, float]:
        norm = self.metadata.get("normalization", {})
        return float(norm.get("mean", [MEAN])[0]), float(norm.get("std", [STD])[0])

    @property
    def inputs(self) -> tuple[str, ...]:
        """What each input channel shows: the film, or the film cut by the lung model."""
        return model_inputs(self.metadata)

    def preprocess(self, image: ImageInput) -> torch.Tensor:
        return self._prepared(load_grayscale(image))[0]

    def _prepared(self, gray: Image.Image) -> tuple[torch.Tensor, list[Frame]]:
        """The model input [channels, s, s] and, per channel, where it lies in the film."""
        mean, std = self.normalization
        tensors, frames = [], []
        for name in self.inputs:
            image, frame = gray, None
            if name == "lungs":  # preprocess(lungs=...), keeping the box and the lung check
                cut, box, check = self.lungs.cut_and_check(np.asarray(gray, dtype=np.uint8))
                image = Image.fromarray(np.ascontiguousarray(cut), mode="L")
                frame = Frame(cut, (box[0], box[2]) if box else (0, 0), lungs=check)
            tensors.append(
                preprocess(
                    image,
                    size=self.input_size,
                    margin=self.margin,
                    equalize=self.metadata["preprocessing"].get("equalize", "global"),
                    mean=mean,
                    std=std,
                )
            )
            frames.append(frame or Frame(np.asarray(gray, dtype=np.uint8)))
        return torch.cat(tensors), frames

    def probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities for a preprocessed batch [n, 1, s, s] (averaged over
        the test-time views when the model has them: one forward pass over all views)."""
        return self._calibrated(self._outputs(self._with_views(batch)), len(batch))

    def _outputs(self, batch: torch.Tensor) -> torch.Tensor:
        if self.engine is not None:
            return self.engine(batch).float().cpu()
        with torch.inference_mode():
            return self.model(batch.to(self.device)).float().cpu()

    def _calibrated(self, out: torch.Tensor, n: int) -> torch.Tensor:
        """Outputs for n films (view-major) -> calibrated probabilities: each view's, averaged;
        with units (a mixed row's folds) each unit's raw probabilities averaged over the views,
        tempered, then the units averaged: what the CV measured per fold (scripts.mix_rows)."""
        units = getattr(self.model, "units", None)
        if not units:
            return self._view_mean(self._softmax(out), n)
        raw = out.exp().view(-1, n, len(units), len(self.classes)).mean(dim=0)
        return torch.softmax(raw.clamp_min(1e-12).log() / self.temperature, dim=2).mean(dim=1)

    def _with_views(self, batch: torch.Tensor) -> torch.Tensor:
        """The batch and its test-time views, view-major (the batch alone without views); views
        act on the [0, 1] image (inference.tta), as the CV measured them."""
        views = self.tta_views
        if len(views) <= 1:
            return batch
        mean, std = self.normalization
        return (tta_views(batch * std + mean, views) - mean) / std

    @staticmethod
    def _view_mean(probs: torch.Tensor, n: int) -> torch.Tensor:
        """[views * n, classes] view-major -> [n, classes]: each film's mean over its views."""
        return probs.view(-1, n, probs.shape[-1]).mean(dim=0)

    def _softmax(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float() / self.temperature, dim=1).cpu()

    def _result(self, probs: torch.Tensor) -> dict[str, Any]:
        values = [float(v) for v in probs.tolist()]
        return {
            "probabilities": dict(zip(self.classes, values, strict=True)),
            "label": self.classes[max(range(len(values)), key=values.__getitem__)],
            "model_version": self.model_version,
        }

    def analyse(
        self,
        image: ImageInput,
        *,
        explain: Sequence[str] = (),
        heat_max_side: int | None = None,
    ) -> Analysis:
        """Probabilities, label, priority and Grad-CAM maps for the ``explain`` classes (class
        codes, or ``"predicted"``), from one preprocessing and one forward pass (over all the
        test-time views at once when the model has them).

        The maps are mapped back onto the decoded image (``heat_on_original``), scaled to a
        longest side of at most ``heat_max_side`` when given (the size they are stored at). If
        Grad-CAM fails, the analysis comes without maps (logged): an explanation never costs a
        result.
        """
        started = time.perf_counter()
        gray = load_grayscale(image)
        x, frames = self._prepared(gray)
        x = x.unsqueeze(0)
        maps: dict[int, list[np.ndarray]] = {}
        probs = None
        if explain:
            try:  # a batch of one: the film (and its views), then the head with autograd
                if not self._explains_in_batch:
                    raise EngineUnavailable(f"the {self.engine.name} engine cannot explain")
                batch_probs, (maps,) = self._batch_gradcam(x, explain)
                probs = batch_probs[0]
            except Exception:  # noqa: BLE001 - the prediction stands without its explanation
                logger.exception("Grad-CAM failed; analysis without heatmaps")
                maps = {}
        if probs is None:
            probs = self.probabilities(x)[0]
        ms = round((time.perf_counter() - started) * 1000)
        return self._analysis(probs, gray, frames, maps, ms, heat_max_side=heat_max_side)

    def analyse_batch(
        self,
        images: Sequence[ImageInput],
        *,
        explain: Sequence[str] = (),
        heat_max_side: int | None = None,
    ) -> list[Analysis]:
        """``analyse`` for several images with one forward pass over their batch (the worker's
        batching, screening.tasks); each result equals ``analyse`` of that image alone.

        Grad-CAM: the network up to the hooked block runs once without autograd, then the small
        head once with it; one backward pass per ``explain`` entry serves the whole batch (the
        images of a batch do not interact in eval mode). ``inference_ms`` is the batch's time
        shared out over its images. An engine that cannot explain falls back to ``analyse``.
        """
        if len(images) <= 1 or (explain and not self._explains_in_batch):
            return [
                self.analyse(image, explain=explain, heat_max_side=heat_max_side)
                for image in images
            ]
        started = time.perf_counter()
        grays = [load_grayscale(image) for image in images]
        prepared = [self._prepared(gray) for gray in grays]
        x = torch.stack([t for t, _ in prepared])
        maps: list[dict[int, list[np.ndarray]]] = [{} for _ in grays]
        probs = None
        if explain:
            try:
                probs, maps = self._batch_gradcam(x, explain)
            except Exception:  # noqa: BLE001 - the predictions stand without their explanation
                logger.exception("Grad-CAM failed; batch analysed without heatmaps")
                maps = [{} for _ in grays]
        if probs is None:
            probs = self.probabilities(x)
        share = round((time.perf_counter() - started) * 1000 / len(grays))
        return [
            self._analysis(p, gray, frames, m, share, heat_max_side=heat_max_side)
            for p, gray, (_, frames), m in zip(probs, grays, prepared, maps, strict=True)
        ]

    @property
    def _explains_in_batch(self) -> bool:
        return self.engine is None or self.engine.features is not None

    def _batch_gradcam(
        self, x: torch.Tensor, explain: Sequence[str]
    ) -> tuple[torch.Tensor, list[dict[int, list[np.ndarray]]]]:
        """Calibrated probabilities [n, classes] (averaged over the test-time views) and each
        film's maps, from one pass over the batch and its views (the film itself first: the
        maps explain it, for the classes the averaged probabilities pick)."""
        model, n = self.model, len(x)
        xs = self._with_views(x)
        if self.engine is not None:
            activations, logits = self.engine.features(xs)
        else:
            with torch.no_grad():
                activations = model.features(xs.to(self.device))
                logits = model.classifier(model.head_conv(activations)).float().cpu()
        probs = self._calibrated(logits, n)
        picks = [self._explained(row[None], explain) for row in probs]
        # The films' own activations (rows 0..n-1): the maps explain the film, not its views.
        return probs, head_cams(model, activations[:n], picks, x.shape[-2:], device=self.device)

    def _analysis(
        self,
        probs: torch.Tensor,
        gray: Image.Image,
        frames: list[Frame],
        maps: dict[int, list[np.ndarray]],
        ms: int,
        *,
        heat_max_side: int | None,
    ) -> Analysis:
        result = self._result(probs)
        original = np.asarray(gray, dtype=np.uint8)
        boxes = [f.box(margin=self.margin) for f in frames] if maps else []  # once for all maps
        return Analysis(
            probabilities=result["probabilities"],
            label=result["label"],
            priority=self.priority(result["probabilities"]["covid"]),
            model_version=self.serving_version,
            weights_sha256=self.weights_sha256,
            inference_ms=ms,
            lung_check=next((f.lungs for f in frames if f.lungs is not None), None),
            heatmaps={
                self.classes[i]: laid_on_film(
                    heats, original, boxes, margin=self.margin, max_side=heat_max_side
                )
                for i, heats in maps.items()
            },
        )

    def _explained(self, logits: torch.Tensor, explain: Sequence[str]) -> list[int]:
        predicted = int(logits[0].argmax())
        return [predicted if c == PREDICTED else self.classes.index(c) for c in explain]

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
