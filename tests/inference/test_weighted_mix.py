"""A mix of rows weighted towards one of them (``scripts.mix_rows --weights``; issue 9's ninth
session): what the CV measured is what serving gives, and the weights are part of the model."""

import json

import numpy as np
import pytest
import torch

from inference.ensemble import DarkCovidNetEnsemble, build_classifier
from inference.metadata import read_metadata
from inference.predictor import Predictor
from tests.inference.mixing import export_mix, write_mixed_folds

T = 1.3


@pytest.fixture
def net(responsive_net):
    return responsive_net


def weighted_mix(film_models, lung_models, weights):
    n = len(film_models)
    return DarkCovidNetEnsemble(
        [*film_models, *lung_models],
        member_inputs=[0] * n + [1] * n,
        units=[[j, j + n] for j in range(n)],
        member_weights=[weights[0]] * n + [weights[1]] * n,
        temperature=T,
    )


def test_a_weighted_unit_is_the_weighted_mean_of_its_members_probabilities(net):
    films, cuts = [net(1), net(2)], [net(3), net(4)]
    model = weighted_mix(films, cuts, (1.0, 3.0))
    x = torch.randn(2, 2, 64, 64)
    with torch.no_grad():
        units = model(x).exp().chunk(2, dim=1)
        for unit, film_model, lung_model in zip(units, films, cuts, strict=True):
            film = torch.softmax(film_model(x[:, :1]), 1)
            cut = torch.softmax(lung_model(x[:, 1:]), 1)
            assert torch.allclose(unit, 0.25 * film + 0.75 * cut, atol=1e-6)
            assert not torch.allclose(unit, (film + cut) / 2, atol=1e-3)


def test_serving_a_weighted_mix_gives_what_the_weighted_row_measured(tmp_path, sample_bytes, net):
    from scripts.mix_rows import mixed_logits

    film_model, lung_model = net(7), net(8)
    p = Predictor.load(export_mix(tmp_path, weighted_mix([film_model], [lung_model], (1, 2))))
    assert p.model.member_weights == (1.0, 2.0)
    x = p.preprocess(sample_bytes["covid"]).unsqueeze(0)
    with torch.no_grad():
        parts = [film_model(x[:, :1]).tolist(), lung_model(x[:, 1:]).tolist()]
    # The CV's side (scripts.mix_rows): the rows' probabilities weighted 1:2, then the temperature.
    measured = torch.softmax(torch.tensor(mixed_logits(parts, [1, 2])) / T, 1)[0]
    served = p.predict(sample_bytes["covid"])["probabilities"]
    assert [served[c] for c in p.classes] == pytest.approx(measured.tolist(), abs=1e-5)


def test_the_same_tensors_weighted_otherwise_are_another_model_version(tmp_path, net):
    films, cuts = [net(1)], [net(2)]
    equal = read_metadata(export_mix(tmp_path, weighted_mix(films, cuts, (1, 1)), name="a"))
    heavier = read_metadata(export_mix(tmp_path, weighted_mix(films, cuts, (1, 2)), name="a"))
    assert equal["weights_sha256"] != heavier["weights_sha256"]
    assert heavier["ensemble"]["member_weights"] == [1.0, 2.0]
    assert "weighted" in heavier["ensemble"]["combine"]
    rebuilt = build_classifier(heavier)
    assert rebuilt.member_weights == (1.0, 2.0) and rebuilt.units == ((0, 1),)


def test_member_weights_need_units_and_one_positive_weight_per_member(net):
    with pytest.raises(ValueError, match="one positive weight per member"):
        DarkCovidNetEnsemble([net(1), net(2)], member_weights=[1, 2])
    with pytest.raises(ValueError, match="one positive weight per member"):
        DarkCovidNetEnsemble([net(1), net(2)], units=[[0, 1]], member_weights=[1, 0])
    with pytest.raises(ValueError, match="one positive weight per member"):
        DarkCovidNetEnsemble([net(1), net(2)], units=[[0, 1]], member_weights=[1])


def _row(tmp_path, name, probs, sig):
    folds = tmp_path / name / "folds"
    folds.mkdir(parents=True)
    logits = np.log(np.asarray(probs)).tolist()
    fold = {
        "signature": sig,
        "valid_idx": [0],
        "logits": logits[:1],
        "other_idx": [1],
        "other_logits": logits[1:],
        "paths": ["x", "y"],
        "seconds": 1.0,
    }
    (folds / "fold-0.json").write_text(json.dumps(fold))
    return tmp_path / name


def test_mixing_with_weights_gives_each_row_its_share(tmp_path):
    from scripts.mix_rows import main

    a = _row(tmp_path, "a", [[0.8, 0.1, 0.1], [0.2, 0.2, 0.6]], {"size": 64})
    b = _row(tmp_path, "b", [[0.4, 0.2, 0.4], [0.6, 0.2, 0.2]], {"size": 64, "lungs": "l@1"})
    dst = tmp_path / "mix"
    assert (
        main(["--rows", str(a), str(b), "--dst", str(dst), "--folds", "1", "--weights", "1", "3"])
        == 0
    )
    mixed = json.loads((dst / "folds" / "fold-0.json").read_text())
    assert np.exp(mixed["logits"][0]) == pytest.approx([0.5, 0.175, 0.325])
    assert np.exp(mixed["other_logits"][0]) == pytest.approx([0.5, 0.2, 0.3])
    assert [m["weight"] for m in mixed["mix"]] == [0.25, 0.75]
    for bad in (["0", "1"], ["1"]):
        with pytest.raises(SystemExit, match="positive numbers, one per row"):
            main(["--rows", str(a), str(b), "--dst", str(dst), "--folds", "1", "--weights", *bad])


def test_the_weighted_merge_gives_each_row_weight_to_its_fold_models(tmp_path, net):
    from inference.training.cli import fold_ensemble

    mix = [
        {"row": "a", "signature": {"size": 64}, "weight": 1 / 3},
        {
            "row": "b",
            "signature": {"size": 64, "lungs": "l@1", "lungs_mode": "mask"},
            "weight": 2 / 3,
        },
    ]
    model = fold_ensemble(write_mixed_folds(tmp_path, mix, net))
    assert model.units == ((0, 2), (1, 3))
    assert model.member_weights == pytest.approx((1 / 3, 1 / 3, 2 / 3, 2 / 3))
