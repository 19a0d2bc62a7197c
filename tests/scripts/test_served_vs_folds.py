"""scripts.served_vs_folds: an exported mix is checked against its row's fold JSONs, and a row
that is not the one exported is caught."""

import json

import torch

from inference.ensemble import DarkCovidNetEnsemble
from inference.predictor import Predictor
from scripts.served_vs_folds import main
from tests.conftest import SAMPLES_DIR
from tests.inference.mixing import export_mix


def _mix(responsive_net) -> DarkCovidNetEnsemble:
    """Two units (folds), each a film model and a lung-cut model weighted 1:2."""
    return DarkCovidNetEnsemble(
        [responsive_net(s) for s in (1, 2, 3, 4)],
        member_inputs=[0, 0, 1, 1],
        units=[[0, 2], [1, 3]],
        member_weights=[1.0, 1.0, 2.0, 2.0],
        temperature=1.3,
    )


def _row(tmp_path, predictor: Predictor, films: list[str]):
    """Fold K's JSON as the CV leaves it: the films outside its data and unit K's logits on them."""
    with torch.no_grad():
        x = torch.stack([predictor.preprocess((SAMPLES_DIR / f).read_bytes()) for f in films])
        units = predictor.model(x).chunk(2, dim=1)  # per unit: log of its weighted mean
    (tmp_path / "row" / "folds").mkdir(parents=True)
    for k, logits in enumerate(units):
        fold = {
            "paths": [str(SAMPLES_DIR / f) for f in films],
            "other_idx": list(range(len(films))),
            "other_logits": logits.tolist(),
        }
        (tmp_path / "row" / "folds" / f"fold-{k}.json").write_text(json.dumps(fold))
    return tmp_path / "row"


def test_the_exported_mix_serves_the_mean_of_its_rows_units_and_another_row_fails(
    tmp_path, responsive_net
):
    weights = export_mix(tmp_path, _mix(responsive_net))
    predictor = Predictor.load(weights)
    films = ["covid.jpg", "normal.jpg", "pneumonia.jpg"]
    row = _row(tmp_path, predictor, films)
    args = ["--weights", str(weights), "--row", str(row), "--films", "3"]
    assert main(args) == 0

    # One unit's logits moved towards one class: no longer what the file serves.
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    _row(wrong, predictor, films)
    fold = json.loads((wrong / "row" / "folds" / "fold-1.json").read_text())
    fold["other_logits"] = [
        [v + (1.0 if i == 0 else 0.0) for i, v in enumerate(r)] for r in fold["other_logits"]
    ]
    (wrong / "row" / "folds" / "fold-1.json").write_text(json.dumps(fold))
    assert main(["--weights", str(weights), "--row", str(wrong / "row"), "--films", "3"]) == 1
