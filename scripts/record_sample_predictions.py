"""Record the shipped model's probabilities for tests/samples/*.jpg (rerun after re-exporting).

.venv/bin/python -m scripts.record_sample_predictions
"""

import json
from pathlib import Path

from inference.predictor import Predictor

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "samples"


def main() -> None:
    predictor = Predictor.load(device="cpu")
    record = {
        "model_version": predictor.model_version,
        "weights_sha256": predictor.weights_sha256,
        "predictions": {
            path.name: predictor.predict(path.read_bytes())["probabilities"]
            for path in sorted(SAMPLES.glob("*.jpg"))
        },
    }
    out = SAMPLES / "expected_predictions.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
