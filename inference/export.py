"""Export trained weights as safetensors plus a JSON metadata file (never a pickle)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from inference.constants import CLASSES, DISPLAY_NAMES
from inference.metadata import sha256_file  # one implementation (serving checks it on load)
from inference.preprocessing import MARGIN, MEAN, PREPROCESSING_VERSION, STD
from inference.tta import check_tta_views


def preprocessing_metadata(*, margin: float, equalize: str, lungs: dict | None) -> dict:
    return {
        "version": PREPROCESSING_VERSION,
        "margin": margin,
        "equalize": equalize,
        **({"lungs": lungs} if lungs else {}),
        "steps": [
            "decode to 8-bit grayscale",
            *(["crop to the lungs' box (lung model) plus its margin"] if lungs else []),
            *(["black outside the lung fields"] if lungs and lungs.get("mode") == "mask" else []),
            "trim uniform borders",
            f"crop {margin:.0%} margins",
            "squash-resize (bilinear)",
            {"global": "histogram equalisation", "clahe": "CLAHE"}.get(equalize, "none"),
            "scale to [0, 1]",
            "normalise",
        ],
    }


def export_model(
    model,
    *,
    weights_dir: Path,
    name: str,
    input_size: int,
    temperature: float,
    margin: float = MARGIN,
    equalize: str = "global",
    thresholds: dict,
    extra: dict,
    normalization: tuple[float, float] = (MEAN, STD),
    lungs: dict | None = None,
    ensemble: int = 0,
    tta_views: tuple[str, ...] | list[str] = (),
    width: int = 1,
) -> Path:
    """Write ``name``.safetensors and its JSON metadata.

    ``lungs``: the lung model the preprocessing crops with ({"weights_file", "model_version",
    "weights_sha256"}); ``ensemble``: the number of members when ``model`` is a
    ``DarkCovidNetEnsemble`` (its state dict holds ``members.K.*``); ``tta_views``: the
    test-time views (``inference.tta``) serving averages over. The views are also written into
    the safetensors header, so the same tensors served another way get another sha256, hence
    another model version.
    """
    from safetensors.torch import save_file

    weights_dir.mkdir(parents=True, exist_ok=True)
    weights = weights_dir / f"{name}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    views = check_tta_views(tta_views) if tta_views else ()
    header = {"format": "pt", "name": name, **({"tta": ",".join(views)} if views else {})}
    save_file(state, str(weights), metadata=header)
    digest = sha256_file(weights)
    metadata = {
        "name": name,
        "model_version": f"{name}@{digest[:12]}",
        "architecture": architecture_text(ensemble=ensemble, width=width),
        "classes": list(CLASSES),
        "display_names": DISPLAY_NAMES,
        "input_size": input_size,
        "in_channels": 1,
        "preprocessing": preprocessing_metadata(margin=margin, equalize=equalize, lungs=lungs),
        "normalization": {"mean": [normalization[0]], "std": [normalization[1]]},
        **network_forms(width=width, ensemble=ensemble, views=views),
        "temperature": temperature,
        "thresholds": thresholds,
        "weights_file": weights.name,
        "weights_sha256": digest,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }
    weights.with_suffix(".json").write_text(json.dumps(metadata, indent=2) + "\n")
    return weights


def architecture_text(*, ensemble: int, width: int) -> str:
    return (
        "DarkCovidNet (Ozturk et al., 2020), 17 conv layers"
        + (f", channels x{width}" if width != 1 else "")
        + (
            f"; an ensemble of {ensemble} fold models (mean of calibrated probabilities)"
            if ensemble
            else ""
        )
    )


def network_forms(*, width: int, ensemble: int, views: tuple[str, ...]) -> dict:
    """The keys that tell serving which network to build and how to combine its outputs (each
    absent when it is the published default, so older weights read the same)."""
    return {
        **({"width": width} if width != 1 else {}),
        **(
            {"ensemble": {"members": ensemble, "combine": "mean of calibrated probabilities"}}
            if ensemble
            else {}
        ),
        **(
            {
                "tta": {
                    "views": list(views),
                    "combine": "mean of calibrated probabilities over the views; Grad-CAM "
                    "explains the identity view",
                }
            }
            if views
            else {}
        ),
    }
