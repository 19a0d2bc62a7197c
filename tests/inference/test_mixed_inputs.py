"""A model whose members read different preprocessings of the film (the whole film and its lung
cut): served as its mixed CV row measured it, explained on the film through each input's box,
and refused when its metadata does not fit."""

import json

import numpy as np
import pytest
import torch

from inference.ensemble import DarkCovidNetEnsemble
from inference.explain import Frame, input_cams, input_groups, laid_on_film
from inference.lungs import LungFinder
from inference.metadata import WeightsIntegrityError, read_metadata
from inference.predictor import Predictor
from tests.inference.mixing import export_mix, write_mixed_folds

VIEWS = ("identity", "zoom1.04", "zoom1.08")
T = 1.4


@pytest.fixture
def net(responsive_net):
    return responsive_net  # net(seed): a small DarkCovidNet whose output depends on its input


def export_mixed(tmp_path, film_models, lung_models, *, views=VIEWS):
    """The export of a mixed row: fold j's two models form unit j."""
    n = len(film_models)
    model = DarkCovidNetEnsemble(
        [*film_models, *lung_models],
        member_inputs=[0] * n + [1] * n,
        units=[[j, j + n] for j in range(n)],
        temperature=T,
    )
    return export_mix(tmp_path, model, views=views)


def records(samples_dir):
    from inference.training.data import Record

    return [
        Record(path=samples_dir / f"{n}.jpg", label=n, group=n, source="s")
        for n in ("covid", "normal", "pneumonia")
    ]


def test_serving_a_mixed_fold_gives_what_the_mixed_row_measured_for_it(tmp_path, samples_dir, net):
    from inference.training.data import load_arrays
    from scripts.mix_rows import mixed_logits
    from scripts.tta_eval import tta_logits

    film_model, lung_model = net(7), net(8)
    lungs = LungFinder.load()
    lungs.mode = "mask"
    recs = records(samples_dir)
    film = load_arrays(recs, size=64, margin=0.0, equalize="none", lungs=None)
    cut = load_arrays(recs, size=64, margin=0.0, equalize="none", lungs=lungs)
    assert not np.array_equal(film, cut)  # the lung channel really is another picture
    # The CV's side: each fold model with the views, averaged, then the row's temperature.
    measured = torch.softmax(
        torch.tensor(
            mixed_logits(
                [
                    tta_logits(film_model, film, views=list(VIEWS), norm="imagenet").tolist(),
                    tta_logits(lung_model, cut, views=list(VIEWS), norm="imagenet").tolist(),
                ]
            )
        )
        / T,
        1,
    )
    p = Predictor.load(export_mixed(tmp_path, [film_model], [lung_model]), device="cpu")
    assert p.inputs == ("film", "lungs")
    served = p.predict_many([r.path.read_bytes() for r in recs])
    for row, result in zip(measured, served, strict=True):
        assert [result["probabilities"][c] for c in p.classes] == pytest.approx(
            row.tolist(), abs=1e-5
        )


def test_the_heat_of_the_lung_cut_lies_in_the_lungs_box_on_the_film(tmp_path, sample_bytes, net):
    from inference.decode import decode_image

    blind = net(7)  # a film member whose hooked block outputs nothing: no heat of its own
    with torch.no_grad():
        blind.features[-1][0].weight.zero_()
    p = Predictor.load(export_mixed(tmp_path, [blind], [net(8)]), device="cpu")
    gray = np.asarray(decode_image(sample_bytes["normal"]))
    top, bottom, left, right = p.lungs.box(gray)
    assert (bottom - top) * (right - left) < 0.5 * gray.size  # a box smaller than the film
    heat = p.analyse(sample_bytes["normal"], explain=("covid",)).heatmaps["covid"]
    assert heat.shape == gray.shape
    inside = np.zeros(gray.shape, dtype=bool)
    inside[top:bottom, left:right] = True
    assert heat[~inside].max() == 0 and heat[inside].max() == pytest.approx(1.0)


def test_the_units_are_tempered_one_by_one_and_then_averaged(tmp_path, sample_bytes, net):
    films, cuts = [net(1), net(2)], [net(3), net(4)]
    p = Predictor.load(export_mixed(tmp_path, films, cuts, views=()), device="cpu")
    x = p.preprocess(sample_bytes["covid"]).unsqueeze(0)
    with torch.no_grad():
        units = []
        for film_model, lung_model in zip(films, cuts, strict=True):
            raw = (
                torch.softmax(film_model(x[:, :1]), 1) + torch.softmax(lung_model(x[:, 1:]), 1)
            ) / 2
            units.append(torch.softmax(raw.log() / T, 1))
        expected = (units[0] + units[1])[0] / 2
    got = p.predict(sample_bytes["covid"])["probabilities"]
    assert [got[c] for c in p.classes] == pytest.approx(expected.tolist(), abs=1e-6)


def test_a_mixed_model_explains_the_film_and_gives_the_probabilities_it_predicts(
    tmp_path, sample_bytes, net
):
    p = Predictor.load(export_mixed(tmp_path, [net(7)], [net(8)]), device="cpu")
    films = [sample_bytes[n] for n in ("covid", "normal")]
    alone = p.analyse(films[0], explain=("predicted", "covid"))
    batch = p.analyse_batch(films, explain=("predicted", "covid"))
    for analysis, film in zip(batch, films, strict=True):
        assert analysis.probabilities == pytest.approx(p.predict(film)["probabilities"], abs=1e-6)
        assert "covid" in analysis.heatmaps
    assert alone.probabilities == pytest.approx(batch[0].probabilities, abs=1e-6)
    for label, heat in alone.heatmaps.items():
        assert heat.shape == batch[0].heatmaps[label].shape
        assert np.abs(heat - batch[0].heatmaps[label]).max() < 1e-5
        assert heat.max() == pytest.approx(1.0)


def test_each_input_map_is_laid_on_the_film_through_its_own_box():
    rng = np.random.default_rng(0)
    film = rng.integers(0, 255, (100, 80), dtype=np.uint8)
    frames = [Frame(film), Frame(rng.integers(0, 255, (40, 30), dtype=np.uint8), (10, 20))]
    boxes = [f.box(margin=0.0) for f in frames]
    assert boxes == [(0, 100, 0, 80), (10, 50, 20, 50)]
    only_lungs = laid_on_film(
        [np.zeros((16, 16)), np.ones((16, 16))], film, boxes, margin=0.0, max_side=None
    )
    assert only_lungs[10:50, 20:50].min() == 1.0
    assert only_lungs.sum() == 40 * 30  # nothing outside the lungs' box
    both = laid_on_film(
        [np.full((16, 16), 0.5), np.ones((16, 16))], film, boxes, margin=0.0, max_side=None
    )
    assert both.max() == 1.0 and both[0, 0] == pytest.approx(1 / 3)


def test_each_input_gets_the_grad_cam_of_its_own_members_on_one_scale():
    assert input_groups([0, 0, 0], 12) is None
    groups = input_groups([0, 1, 0, 1], 8)
    assert groups == [[0, 1, 4, 5], [2, 3, 6, 7]]
    grads = torch.ones(1, 8, 2, 2)
    activations = torch.zeros(1, 8, 2, 2)
    activations[0, 2:4] = 2.0  # only the second input's members see anything
    activations[0, 0, 0, 0] = 1.0
    film, lungs = input_cams(grads, activations, torch.Size([2, 2]), groups)
    assert lungs.max() == pytest.approx(1.0) and film.max() == pytest.approx(0.25)


def test_weights_whose_inputs_do_not_fit_their_channels_or_lung_model_do_not_load(tmp_path, net):
    weights = export_mixed(tmp_path, [net(7)], [net(8)])
    meta_path = weights.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    for change, message in (
        (lambda m: m["preprocessing"].pop("inputs"), "input channels"),
        (lambda m: m["preprocessing"].update(inputs=["film", "ribs"]), "input channels"),
        (lambda m: m["preprocessing"].pop("lungs"), "no lung model"),
    ):
        broken = json.loads(json.dumps(meta))
        change(broken)
        meta_path.write_text(json.dumps(broken))
        with pytest.raises(WeightsIntegrityError, match=message):
            read_metadata(weights)
    meta_path.write_text(json.dumps(meta))
    assert read_metadata(weights)["preprocessing"]["inputs"] == ["film", "lungs"]


def test_mixing_averages_the_probabilities_of_folds_that_hold_the_same_films(tmp_path):
    from scripts.mix_rows import main

    a = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    b = np.log(np.array([[0.3, 0.6, 0.1], [0.3, 0.3, 0.4]]))
    rows = []
    for name, logits, sig in (("a", a, {"size": 64}), ("b", b, {"size": 64, "lungs": "l@1"})):
        folds = tmp_path / name / "folds"
        folds.mkdir(parents=True)
        fold = {
            "signature": sig,
            "valid_idx": [0],
            "logits": logits[:1].tolist(),
            "other_idx": [1],
            "other_logits": logits[1:].tolist(),
            "paths": ["x", "y"],
            "seconds": 1.0,
        }
        (folds / "fold-0.json").write_text(json.dumps(fold))
        rows.append(tmp_path / name)
    assert main(["--rows", *map(str, rows), "--dst", str(tmp_path / "mix"), "--folds", "1"]) == 0
    mixed = json.loads((tmp_path / "mix" / "folds" / "fold-0.json").read_text())
    assert np.exp(mixed["logits"][0]) == pytest.approx([0.5, 0.4, 0.1])
    assert np.exp(mixed["other_logits"][0]) == pytest.approx([0.2, 0.2, 0.6])
    assert mixed["signature"] == {"size": 64}  # the first row's: its merge reuses the folds
    assert [m["signature"] for m in mixed["mix"]] == [{"size": 64}, {"size": 64, "lungs": "l@1"}]
    other = json.loads((rows[1] / "folds" / "fold-0.json").read_text()) | {"valid_idx": [1]}
    (rows[1] / "folds" / "fold-0.json").write_text(json.dumps(other))
    with pytest.raises(SystemExit, match="valid_idx differs"):
        main(["--rows", *map(str, rows), "--dst", str(tmp_path / "mix2"), "--folds", "1"])


def test_the_mixed_merge_exports_both_rows_fold_models_as_units(tmp_path, net):
    from inference.training.cli import fold_ensemble
    from inference.training.mix import mix_lungs

    mix = [
        {"row": "a", "signature": {"size": 64}},
        {"row": "b", "signature": {"size": 64, "lungs": "l@1", "lungs_mode": "mask"}},
    ]
    model = fold_ensemble(write_mixed_folds(tmp_path, mix, net))
    assert model.member_inputs == (0, 0, 1, 1) and model.units == ((0, 2), (1, 3))
    lung_member = model.members[2].features[0][0].weight
    assert torch.equal(lung_member, net(10).features[0][0].weight)  # fold 0 of the lung row
    assert mix_lungs(mix) == ("l@1", "mask")
    with pytest.raises(SystemExit, match="what serving prepares"):
        mix_lungs([mix[0], {"row": "b", "signature": mix[1]["signature"] | {"size": 128}}])


def _fold(path, sig, valid, other, train, *, paths=("x", "y", "z", "w")):
    fold = {
        "signature": sig,
        "valid_idx": [i for i, _ in valid],
        "logits": np.log([p for _, p in valid]).tolist(),
        "other_idx": [i for i, _ in other],
        "other_logits": np.log([p for _, p in other]).tolist() if other else [],
        "train_idx": train,
        "paths": list(paths),
        "seconds": 1.0,
    }
    (path / "folds").mkdir(parents=True)
    (path / "folds" / "fold-0.json").write_text(json.dumps(fold))
    return path


def test_a_multi_source_row_mixes_in_on_the_films_every_row_never_trained_on(tmp_path):
    from scripts.mix_rows import main

    # A cxr3-only fold predicts every external film (2 and 3); a multi-source fold trained on
    # film 3 (a source another fold holds out) and predicts only film 2 besides its own fold.
    a = _fold(
        tmp_path / "a",
        {"size": 64},
        [(0, [0.7, 0.2, 0.1])],
        [(2, [0.1, 0.1, 0.8]), (3, [0.2, 0.2, 0.6])],
        [1],
    )
    data = tmp_path / "data"
    data.mkdir()
    b = _fold(
        tmp_path / "b",
        {"size": 64, "data": "all"},
        [(0, [0.3, 0.6, 0.1])],
        [(2, [0.3, 0.3, 0.4])],
        [1, 3],
        paths=(str(data / ".." / "x"), "y", "z", "w"),
    )  # same file, spelled otherwise
    (tmp_path / "x").write_text("")
    a_json = json.loads((a / "folds" / "fold-0.json").read_text())
    a_json["paths"][0] = str(tmp_path / "x")
    (a / "folds" / "fold-0.json").write_text(json.dumps(a_json))
    assert main(["--rows", str(a), str(b), "--dst", str(tmp_path / "mix"), "--folds", "1"]) == 0
    mixed = json.loads((tmp_path / "mix" / "folds" / "fold-0.json").read_text())
    assert np.exp(mixed["logits"][0]) == pytest.approx([0.5, 0.4, 0.1])
    assert mixed["other_idx"] == [2]  # film 3 was trained on by b's fold model: left out
    assert np.exp(mixed["other_logits"][0]) == pytest.approx([0.2, 0.2, 0.6])
    assert mixed["train_idx"] == [1, 3]


def test_rows_whose_films_are_not_the_same_do_not_mix(tmp_path):
    from scripts.mix_rows import main

    a = _fold(tmp_path / "a", {}, [(0, [0.7, 0.2, 0.1])], [], [1])
    b = _fold(tmp_path / "b", {}, [(0, [0.3, 0.6, 0.1])], [], [1], paths=("x", "y", "q", "w"))
    with pytest.raises(SystemExit, match="paths differ"):
        main(["--rows", str(a), str(b), "--dst", str(tmp_path / "mix"), "--folds", "1"])


def test_a_mix_of_four_rows_exports_every_row_fold_by_fold_as_units(tmp_path, net):
    from inference.training.cli import fold_ensemble

    lungs = {"lungs": "l@1", "lungs_mode": "mask"}
    sigs = [
        {"size": 64},
        {"size": 64} | lungs,
        {"size": 64, "data": "all"},
        {"size": 64, "data": "all"} | lungs,
    ]
    mix = [{"row": f"r{j}", "signature": s} for j, s in enumerate(sigs)]
    model = fold_ensemble(write_mixed_folds(tmp_path, mix, net))
    assert model.member_inputs == (0, 0, 1, 1, 0, 0, 1, 1)
    assert model.units == ((0, 2, 4, 6), (1, 3, 5, 7))
    third_row_fold_1 = model.members[5].features[0][0].weight
    assert torch.equal(third_row_fold_1, net(21).features[0][0].weight)


def test_rows_that_cut_the_lungs_differently_cannot_be_served_as_one_mix():
    from inference.training.mix import mix_channels

    film = {"row": "a", "signature": {"size": 64}}
    mask = {"row": "b", "signature": {"size": 64, "lungs": "l@1", "lungs_mode": "mask"}}
    crop = {"row": "c", "signature": {"size": 64, "lungs": "l@1", "lungs_mode": "crop"}}
    assert mix_channels([film, mask, film]) == ([0, 1, 0], ("l@1", "mask"))
    with pytest.raises(SystemExit, match="different lung models or modes"):
        mix_channels([film, mask, crop])
    with pytest.raises(SystemExit, match="first mixed row must read the whole film"):
        mix_channels([mask, film])
