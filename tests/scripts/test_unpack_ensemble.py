"""The shipped ensemble's members go back to the rows and folds they came from."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from inference.ensemble import DarkCovidNetEnsemble
from scripts.unpack_ensemble import main


def test_each_member_goes_back_to_its_row_and_fold_and_a_wrong_row_order_is_refused(
    tmp_path, responsive_net
):
    ensemble = DarkCovidNetEnsemble([responsive_net(seed) for seed in range(4)])
    state = {k: v.contiguous() for k, v in ensemble.state_dict().items()}
    save_file(state, str(tmp_path / "m.safetensors"))
    meta = {"mixed_rows": ["reports/recipes/film", "reports/recipes/lungs"]}
    (tmp_path / "m.json").write_text(json.dumps(meta | {"ensemble_of_folds": [0, 1]}))
    rows = [tmp_path / "film", tmp_path / "lungs"]
    for row in rows:
        (row / "folds").mkdir(parents=True)
    assert main(["--weights", str(tmp_path / "m.safetensors"), "--rows", *map(str, rows)]) == 0
    fold_0_of_lungs = load_file(str(rows[1] / "folds" / "fold-0.safetensors"))
    expected = responsive_net(2).state_dict()  # member 2: row 1, fold 0
    assert fold_0_of_lungs.keys() == expected.keys()
    assert all(torch.equal(fold_0_of_lungs[k], expected[k]) for k in expected)
    model = responsive_net(0)
    model.load_state_dict(load_file(str(rows[0] / "folds" / "fold-0.safetensors")))
    with pytest.raises(SystemExit, match="was mixed from"):
        main(["--weights", str(tmp_path / "m.safetensors"), "--rows", *map(str, rows[::-1])])
