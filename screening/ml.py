"""The models, loaded lazily once per process (worker, or web process in embedded eager mode):
the classifier (``get_predictor``) and the lung-field finder of the quality check
(``get_lung_finder``).

Nothing here imports torch at Django start-up: ``inference.pipeline.load_predictor`` imports it
on first use.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from django.conf import settings

from inference.pipeline import load_lung_finder, load_predictor

if TYPE_CHECKING:  # pragma: no cover
    from inference.pipeline import LungFinder, Predictor  # the types, for annotations only

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_predictor: Predictor | None = None
_lung_finder: LungFinder | None = None


class ModelUnavailable(RuntimeError):
    """The model could not be loaded (missing or corrupt weights): a deployment problem."""


def get_predictor() -> Predictor:
    global _predictor
    if _predictor is None:
        with _lock:
            if _predictor is None:
                try:
                    _predictor = load_predictor(
                        settings.INFERENCE_WEIGHTS,
                        device=settings.INFERENCE_DEVICE,
                        engine=settings.INFERENCE_ENGINE,
                        threads=settings.INFERENCE_THREADS,
                        engine_cache=settings.INFERENCE_ENGINE_CACHE,
                    )
                except Exception as exc:
                    logger.exception("model could not be loaded")
                    raise ModelUnavailable(str(exc)) from exc
                logger.info(
                    "model loaded: %s (device %s)",
                    _predictor.serving_version,
                    settings.INFERENCE_DEVICE,
                )
    return _predictor


def get_lung_finder() -> LungFinder:
    """The lung-field U-Net (shipped weights); errors propagate: the caller flags the screening
    "lung check not run" instead of failing it."""
    global _lung_finder
    if _lung_finder is None:
        with _lock:
            if _lung_finder is None:
                _lung_finder = load_lung_finder(
                    engine=settings.INFERENCE_ENGINE,
                    threads=settings.INFERENCE_THREADS,
                    engine_cache=settings.INFERENCE_ENGINE_CACHE,
                )
                logger.info("lung model loaded: %s", _lung_finder.version)
    return _lung_finder
