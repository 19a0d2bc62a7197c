"""The model, loaded lazily once per process (worker, or web process in embedded eager mode).

Nothing here imports torch at Django start-up: ``inference.predictor`` is imported on first use.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:  # pragma: no cover
    from inference.predictor import Predictor

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
                    from inference.predictor import Predictor

                    _predictor = Predictor.load(
                        path=settings.INFERENCE_WEIGHTS, device=settings.INFERENCE_DEVICE
                    )
                except Exception as exc:
                    logger.exception("model could not be loaded")
                    raise ModelUnavailable(str(exc)) from exc
                logger.info(
                    "model loaded: %s (device %s)",
                    _predictor.model_version,
                    settings.INFERENCE_DEVICE,
                )
    return _predictor


def reset_predictor() -> None:
    """Forget the cached model (tests, or after replacing the weights file)."""
    global _predictor
    with _lock:
        _predictor = None
