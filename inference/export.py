"""Export trained weights as safetensors plus a JSON metadata file (never a pickle)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from inference.constants import CLASSES, DISPLAY_NAMES
from inference.metadata import safetensors_write  # byte-reproducible: one model, one version
from inference.preprocessing import MARGIN, MEAN, PREPROCESSING_VERSION, STD
from inference.tta import check_tta_views


def preprocessing_metadata(
    *, margin: float, equalize: str, lungs: dict | None, inputs: tuple[str, ...] = ()
) -> dict:
    """``inputs``: what each input channel shows (constants.INPUTS) when there are several (an
    ensemble whose members read the film and its lung cut); the lung steps then apply to the
    "lungs" channel only."""
    where = " (the lungs channel)" if inputs else ""
    return {
        "version": PREPROCESSING_VERSION,
        "margin": margin,
        "equalize": equalize,
        **({"lungs": lungs} if lungs else {}),
        **({"inputs": list(inputs)} if inputs else {}),
        "steps": [
            "decode to 8-bit grayscale",
            *([f"crop to the lungs' box (lung model) plus its margin{where}"] if lungs else []),
            *(
                [f"black outside the lung fields{where}"]
                if lungs and lungs.get("mode") == "mask"
                else []
            ),
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
    inputs: tuple[str, ...] = (),
    member_inputs: tuple[int, ...] | None = None,
    units: tuple[tuple[int, ...], ...] | None = None,
    member_weights: tuple[float, ...] | None = None,
    final_fit: bool = False,
) -> Path:
    """Write ``name``.safetensors and its JSON metadata.

    ``lungs``: the lung model the preprocessing crops with ({"weights_file", "model_version",
    "weights_sha256"}); ``ensemble``: the number of members when ``model`` is a
    ``DarkCovidNetEnsemble`` (its state dict holds ``members.K.*``); ``tta_views``: the
    test-time views (``inference.tta``) serving averages over. The views are also written into
    the safetensors header, so the same tensors served another way get another sha256, hence
    another model version. ``inputs`` / ``member_inputs``: an ensemble whose member k reads input
    channel ``member_inputs[k]``, channel c showing ``inputs[c]``; ``units``: groups of members
    averaged before the temperature, weighted by ``member_weights`` (in the header too: the same
    tensors weighted otherwise are another model version); ``final_fit``: final fits."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    weights = weights_dir / f"{name}.safetensors"
    views = check_tta_views(tta_views) if tta_views else ()
    digest = _save_tensors(model, weights, name=name, views=views, member_weights=member_weights)
    combination = {"member_inputs": member_inputs, "units": units, "member_weights": member_weights}
    metadata = {
        "name": name,
        "model_version": f"{name}@{digest[:12]}",
        "architecture": architecture_text(ensemble=ensemble, width=width, final_fit=final_fit),
        "classes": list(CLASSES),
        "display_names": DISPLAY_NAMES,
        "input_size": input_size,
        "in_channels": len(inputs) or 1,
        "preprocessing": preprocessing_metadata(
            margin=margin, equalize=equalize, lungs=lungs, inputs=inputs
        ),
        "normalization": {"mean": [normalization[0]], "std": [normalization[1]]},
        **network_forms(width=width, ensemble=ensemble, views=views, **combination),
        "temperature": temperature,
        "thresholds": thresholds,
        "weights_file": weights.name,
        "weights_sha256": digest,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }
    weights.with_suffix(".json").write_text(json.dumps(metadata, indent=2) + "\n")
    return weights


def _save_tensors(
    model,
    weights: Path,
    *,
    name: str,
    views: tuple[str, ...],
    member_weights: tuple[float, ...] | None = None,
) -> str:
    """The state dict as safetensors, the views and member weights in its header; its sha256."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {
        "format": "pt",
        "name": name,
        **({"tta": ",".join(views)} if views else {}),
        **(
            {"member_weights": ",".join(f"{w:.6g}" for w in member_weights)}
            if member_weights
            else {}
        ),
    }
    return safetensors_write(state, weights, metadata=header)


def architecture_text(*, ensemble: int, width: int, final_fit: bool = False) -> str:
    if final_fit:
        members = (
            f"; one unit of {ensemble} models fitted on every film of the recipe's data, one per "
            "mixed row (mean of their probabilities)"
        )
    elif ensemble:
        members = f"; an ensemble of {ensemble} fold models (mean of calibrated probabilities)"
    else:
        members = ""
    return (
        "DarkCovidNet (Ozturk et al., 2020), 17 conv layers"
        + (f", channels x{width}" if width != 1 else "")
        + members
    )


def network_forms(
    *,
    width: int,
    ensemble: int,
    views: tuple[str, ...],
    member_inputs: tuple[int, ...] | None = None,
    units: tuple[tuple[int, ...], ...] | None = None,
    member_weights: tuple[float, ...] | None = None,
) -> dict:
    """The keys that tell serving which network to build and how to combine its outputs (each
    absent when it is the published default, so older weights read the same)."""
    mean = "mean weighted by member_weights" if member_weights else "mean"
    return {
        **({"width": width} if width != 1 else {}),
        **(
            {
                "ensemble": {
                    "members": ensemble,
                    "combine": f"per unit (a fold's models), the {mean} of the untempered "
                    "probabilities over its members and the views, then the temperature; then "
                    "the mean over the units"
                    if units
                    else "mean of calibrated probabilities",
                    **({"member_inputs": list(member_inputs)} if member_inputs else {}),
                    **({"units": [list(u) for u in units]} if units else {}),
                    **({"member_weights": list(member_weights)} if member_weights else {}),
                }
            }
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
