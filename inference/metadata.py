"""What a weights file's JSON metadata says, checked in one place (torch-free).

    metadata = read_metadata(weights_path)   # sha256, class order, preprocessing version checked
    priority_band(p_covid, high=..., medium=...)   # the triage band from the stored thresholds

Torch-free at import (training's metrics and the CLIs can use ``priority_band``). Every
``Predictor.load`` goes through ``read_metadata``; anything that loads other artefacts
beside the weights (calibration, ensembles) should add its checks here, next to these.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

from inference.constants import CLASSES, INPUTS


class WeightsIntegrityError(RuntimeError):
    """The weights file is missing, altered, or does not match its metadata."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def safetensors_write(state: dict, path: Path, *, metadata: dict[str, str]) -> str:
    """``state`` as safetensors with ``metadata`` in its header, byte for byte the same for the
    same tensors and metadata; its sha256 (the model version is made from it).

    safetensors keeps the header's metadata in a hash map whose order changes with every call
    (two exports of one model got two sha256s, hence two model versions), so the metadata is
    rewritten in key order: same keys, same values, same length, the tensors' offsets untouched.
    """
    from safetensors.torch import save_file

    save_file(state, str(path), metadata=metadata)
    with open(path, "r+b") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = fh.read(length).decode("utf-8")
        written = json.loads(header)["__metadata__"]
        compact = {"separators": (",", ":"), "ensure_ascii": False}
        found = '"__metadata__":' + json.dumps(written, **compact)
        if found not in header:  # serde's JSON differs from Python's for these values
            raise ValueError(f"{path.name}: cannot rewrite the safetensors metadata in order")
        ordered = '"__metadata__":' + json.dumps(dict(sorted(written.items())), **compact)
        fh.seek(8)
        fh.write(header.replace(found, ordered, 1).encode("utf-8"))
    return sha256_file(path)


def metadata_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def read_metadata(weights: Path) -> dict[str, Any]:
    """The metadata beside ``weights``, after checking that it describes this file and this code."""
    from inference.preprocessing import PREPROCESSING_VERSION  # torch: imported only when loading

    meta_path = metadata_path(weights)
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
    if "tta" in metadata:
        from inference.tta import check_tta_views

        try:
            check_tta_views(metadata["tta"]["views"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsIntegrityError(f"{meta_path.name}: test-time views: {exc}") from exc
    model_inputs(metadata)
    return metadata


def model_inputs(metadata: dict[str, Any]) -> tuple[str, ...]:
    """What each input channel shows (``constants.INPUTS``): ``preprocessing.inputs`` when the
    members of an ensemble read different ones; otherwise one channel, lung-cut when a lung
    model is named. Checked against ``in_channels`` and the lung model."""
    prep = metadata["preprocessing"]
    named = prep.get("inputs")
    inputs = tuple(named) if named else ("lungs" if prep.get("lungs") else "film",)
    if len(inputs) != int(metadata.get("in_channels", 1)) or not set(inputs) <= set(INPUTS):
        raise WeightsIntegrityError(
            f"inputs {list(inputs)} do not fit {metadata.get('in_channels', 1)} input channels "
            f"(each one of {list(INPUTS)})"
        )
    if "lungs" in inputs and not prep.get("lungs"):
        raise WeightsIntegrityError("an input is cut by the lung model, but no lung model is named")
    return inputs


def priority_band(covid_probability: float, *, high: float, medium: float) -> str:
    """ "high" / "medium" / "low" for a COVID-19 probability and the model's two thresholds."""
    if covid_probability >= high:
        return "high"
    if covid_probability >= medium:
        return "medium"
    return "low"
