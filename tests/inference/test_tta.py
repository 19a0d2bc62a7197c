"""Served test-time augmentation: the views named in a model's metadata, averaged the way the
CV measured them (``scripts.tta_eval``), explained on the film itself, and part of the version."""

import json
import shutil

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as F

from inference.export import export_model
from inference.metadata import WeightsIntegrityError, read_metadata
from inference.predictor import Predictor
from inference.tta import check_tta_views

VIEWS = ("identity", "zoom1.04", "zoom1.08")
MEAN, STD = 0.449, 0.226


def export(model, tmp_path, *, name="m", **kwargs):
    options = {
        "weights_dir": tmp_path,
        "name": name,
        "input_size": 64,
        "temperature": 1.4,
        "margin": 0.0,
        "equalize": "none",
        "thresholds": {"covid_high": 0.5, "covid_medium": 0.2},
        "normalization": (MEAN, STD),
        "extra": {},
    } | kwargs
    return export_model(model, **options)


@pytest.fixture
def model(responsive_net):
    return responsive_net(7)  # its output depends on the film, so the views can be told apart


def test_the_served_probabilities_are_the_mean_over_the_views_of_the_calibrated_ones(
    model, tmp_path, sample_bytes
):
    p = Predictor.load(export(model, tmp_path, tta_views=VIEWS), device="cpu")
    x01 = p.preprocess(sample_bytes["pneumonia"]).unsqueeze(0) * STD + MEAN
    expected = 0
    with torch.no_grad():
        for scale in (1.0, 1.04, 1.08):  # written out here, not taken from inference.tta
            view = F.affine(
                x01,
                angle=0.0,
                translate=[0, 0],
                scale=scale,
                shear=[0.0],
                interpolation=F.InterpolationMode.BILINEAR,
            )
            expected = expected + torch.softmax(model((view - MEAN) / STD)[0] / 1.4, 0) / 3
    got = p.predict(sample_bytes["pneumonia"])["probabilities"]
    assert [got[c] for c in p.classes] == pytest.approx(expected.tolist(), abs=1e-6)
    plain = Predictor.load(export(model, tmp_path / "plain"), device="cpu")
    assert plain.predict(sample_bytes["pneumonia"])["probabilities"] != pytest.approx(got)


def test_serving_with_views_gives_what_the_cv_measured_with_them(model, tmp_path, samples_dir):
    from inference.training.data import Record, load_arrays
    from scripts.tta_eval import tta_logits

    records = [
        Record(path=samples_dir / f"{n}.jpg", label=n, group=n, source="s")
        for n in ("covid", "normal", "pneumonia")
    ]
    arrays = load_arrays(records, size=64, margin=0.0, equalize="none", lungs=None)
    measured = torch.softmax(
        torch.from_numpy(tta_logits(model, arrays, views=list(VIEWS), norm="imagenet")), 1
    )
    # temperature 1: the CV's logits are log(mean softmax); calibration is applied after
    p = Predictor.load(export(model, tmp_path, tta_views=VIEWS, temperature=1.0), device="cpu")
    served = p.predict_many([r.path.read_bytes() for r in records])
    for row, result in zip(measured, served, strict=True):
        assert [result["probabilities"][c] for c in p.classes] == pytest.approx(
            row.tolist(), abs=1e-5
        )


@pytest.mark.parametrize("engine", ["eager", "onnxruntime"])
def test_analyse_alone_and_in_a_batch_give_the_averaged_probabilities(
    engine, model, tmp_path, sample_bytes
):
    p = Predictor.load(
        export(model, tmp_path, tta_views=VIEWS), device="cpu", engine=engine, engine_cache=tmp_path
    )
    films = [sample_bytes[n] for n in ("covid", "normal", "pneumonia")]
    batch = p.analyse_batch(films, explain=("predicted", "covid"))
    for film, many in zip(films, batch, strict=True):
        one = p.analyse(film, explain=("predicted", "covid"))
        expected = p.predict(film)["probabilities"]
        assert one.probabilities == pytest.approx(expected, abs=1e-5)
        assert many.probabilities == pytest.approx(expected, abs=1e-5)
        assert one.heatmaps.keys() == many.heatmaps.keys() == {one.label, "covid"}
        for c, heat in one.heatmaps.items():
            assert float(np.abs(many.heatmaps[c] - heat).max()) < 1e-4


@pytest.mark.parametrize("engine", ["eager", "onnxruntime"])
def test_the_explained_class_is_the_one_the_averaged_views_predict(
    engine, model, tmp_path, sample_bytes
):
    p = Predictor.load(
        export(model, tmp_path, tta_views=VIEWS), device="cpu", engine=engine, engine_cache=tmp_path
    )
    film = p.preprocess(sample_bytes["covid"]).unsqueeze(0)
    one_pass = lambda x: p._calibrated(p._outputs(x), len(x))  # noqa: E731 - no views
    alone = one_pass(film)[0]
    # Stand-in "other views": a flat grey input this network calls another class, with enough
    # confidence to outvote the film itself in the average.
    candidates = [torch.full_like(film, v) for v in torch.linspace(-2.5, 2.5, 21).tolist()]
    scored = [(one_pass(c)[0], c) for c in candidates]
    probs, other = max(
        ((q, c) for q, c in scored if int(q.argmax()) != int(alone.argmax())),
        key=lambda qc: float(qc[0].max()),
    )
    expected = (alone + 2 * probs) / 3
    assert int(expected.argmax()) != int(alone.argmax())  # the average really changes the class
    p._with_views = lambda batch: torch.cat([batch] + [other.expand_as(batch)] * 2)
    analysis = p.analyse(sample_bytes["covid"], explain=("predicted",))
    label = p.classes[int(expected.argmax())]
    assert analysis.label == label and set(analysis.heatmaps) == {label}
    assert [analysis.probabilities[c] for c in p.classes] == pytest.approx(
        expected.tolist(), abs=1e-5
    )
    for many in p.analyse_batch([sample_bytes["covid"]] * 2, explain=("predicted",)):
        assert many.label == label and set(many.heatmaps) == {label}


def test_the_views_are_in_the_metadata_and_change_the_model_version(model, tmp_path):
    with_views = export(model, tmp_path / "a", tta_views=VIEWS)
    without = export(model, tmp_path / "b")
    meta, plain = read_metadata(with_views), read_metadata(without)
    assert meta["tta"]["views"] == list(VIEWS) and "tta" not in plain
    assert meta["model_version"] != plain["model_version"]
    assert Predictor.load(with_views, device="cpu").tta_views == VIEWS


def test_the_same_model_exported_again_gets_the_same_weights_and_model_version(model, tmp_path):
    # safetensors orders the header's metadata differently on each call (three keys here: six
    # orders), so before the header was rewritten in key order most of these differed.
    exports = [export(model, tmp_path / str(i), tta_views=VIEWS) for i in range(6)]
    versions = {read_metadata(weights)["model_version"] for weights in exports}
    assert len(versions) == 1
    assert len({weights.read_bytes() for weights in exports}) == 1
    assert Predictor.load(exports[0], device="cpu").tta_views == VIEWS


@pytest.mark.parametrize(
    "views", [["zoom1.04", "identity"], ["identity", "zoom9"], ["identity", "identity"], []]
)
def test_weights_whose_views_are_unknown_or_do_not_start_with_the_film_do_not_load(
    views, model, tmp_path
):
    weights = export(model, tmp_path, tta_views=VIEWS)
    meta_path = weights.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["tta"]["views"] = views
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(WeightsIntegrityError, match="test-time views"):
        read_metadata(weights)
    with pytest.raises(ValueError):
        check_tta_views(views)


def test_the_merge_exports_the_views_its_folds_were_measured_with(tmp_path):
    from inference.training.cli import fold_tta_views

    folds = tmp_path / "folds"
    folds.mkdir()
    args = type("Args", (), {"out": tmp_path, "folds": 2})()
    for k in range(2):
        (folds / f"fold-{k}.json").write_text(json.dumps({"tta_views": list(VIEWS)}))
    assert fold_tta_views(args) == VIEWS
    (folds / "fold-1.json").write_text(json.dumps({}))
    with pytest.raises(SystemExit, match="disagree"):
        fold_tta_views(args)
    shutil.rmtree(folds)
    folds.mkdir()
    for k in range(2):
        (folds / f"fold-{k}.json").write_text(json.dumps({"logits": []}))
    assert fold_tta_views(args) == ()
