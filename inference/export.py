"""Export trained weights as safetensors plus a JSON metadata file (never a pickle)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from inference.constants import CLASSES, DISPLAY_NAMES
from inference.preprocessing import MARGIN, MEAN, PREPROCESSING_VERSION, STD


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
) -> Path:
    from safetensors.torch import save_file

    weights_dir.mkdir(parents=True, exist_ok=True)
    weights = weights_dir / f"{name}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights), metadata={"format": "pt", "name": name})
    digest = sha256_file(weights)
    metadata = {
        "name": name,
        "model_version": f"{name}@{digest[:12]}",
        "architecture": "DarkCovidNet (Ozturk et al., 2020), 17 conv layers",
        "classes": list(CLASSES),
        "display_names": DISPLAY_NAMES,
        "input_size": input_size,
        "in_channels": 1,
        "preprocessing": {
            "version": PREPROCESSING_VERSION,
            "margin": margin,
            "equalize": equalize,
            "steps": [
                "decode to 8-bit grayscale",
                "trim uniform borders",
                f"crop {margin:.0%} margins",
                "squash-resize (bilinear)",
                {"global": "histogram equalisation", "clahe": "CLAHE"}.get(equalize, "none"),
                "scale to [0, 1]",
                "normalise",
            ],
        },
        "normalization": {"mean": [MEAN], "std": [STD]},
        "temperature": temperature,
        "thresholds": thresholds,
        "weights_file": weights.name,
        "weights_sha256": digest,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }
    weights.with_suffix(".json").write_text(json.dumps(metadata, indent=2) + "\n")
    return weights
