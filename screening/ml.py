"""The model, loaded lazily once per process (worker, or web process in embedded eager mode).

Nothing here imports torch at Django start-up: ``inference.pipeline.load_predictor`` imports it
on first use.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from django.conf import settings

from inference.pipeline import load_predictor

if TYPE_CHECKING:  # pragma: no cover
    from inference.pipeline import Predictor  # the type, for annotations only

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_predictor: Predictor | None = None


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
