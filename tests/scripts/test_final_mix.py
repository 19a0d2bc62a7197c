"""The final fit of a mixed row: read on the unseen sources as the fold units are, served as read."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from inference import metrics as M
from inference import train
from inference.lungs import LUNG_WEIGHTS
from scripts.final_mix import main as final_mix
from tests.inference.test_source_grouped_cv import source_cv_args, three_sets  # noqa: F401

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
LUNGS = ["--lungs", str(LUNG_WEIGHTS), "--lungs-mode", "mask"]
VIEWS = ["identity", "zoom1.04"]


def responsive(path: Path, *, seed: int) -> None:
    """Give a 1-epoch 32 px fit BatchNorm statistics from a batch of noise: as trained, its
    signal fades to a constant output, so a member served on the wrong input would not show."""
    import torch
    from safetensors.torch import load_file, save_file

    from inference.model import DarkCovidNet

    model = DarkCovidNet(input_size=32, in_channels=1)
    model.load_state_dict(load_file(str(path)))
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.reset_running_stats()
        bn.momentum = None  # the plain mean over the batch
    torch.manual_seed(seed)
    with torch.no_grad():
        model.train()(torch.randn(32, 1, 32, 32))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


@pytest.fixture(scope="module")
def final_row(three_sets, tmp_path_factory):  # noqa: F811
    """Two tiny rows (the film; its lung-masked cut) with two views, mixed fold by fold and
    merged, and each row's final fit."""
    from scripts.mix_rows import main as mix_rows
    from scripts.tta_eval import main as tta_eval

    root = tmp_path_factory.mktemp("final")
    rows = []
    for name, extra in (("film", []), ("mask", LUNGS)):
        args = source_cv_args(three_sets, root / name)[:-2] + extra  # without --out
        assert train.main([*args, "--out", str(root / name)]) == 0
        views = ["--src", str(root / name), "--dst", str(root / f"{name}-tta"), "--views"]
        assert tta_eval([*views, *VIEWS, "--", *args]) == 0
        assert train.main([*args, "--out", str(root / name), "--only-final"]) == 0
        responsive(root / name / "final" / "model.safetensors", seed=len(rows))
        rows.append(str(root / f"{name}-tta"))
    assert mix_rows(["--rows", *rows, "--dst", str(root / "mix"), "--folds", "3"]) == 0
    assert train.main(source_cv_args(three_sets, root / "mix")) == 0
    return root


def run_final(final_row, three_sets, models, *extra):  # noqa: F811
    return final_mix(
        [
            *("--row", str(final_row / "mix"), "--dst", str(final_row / "out"), "--models"),
            *map(str, models),
            *extra,
            "--",
            *source_cv_args(three_sets, final_row / "mix"),
            *("--weights-dir", str(final_row / "w")),
        ]
    )


def finals(final_row):
    return [final_row / name / "final" / "model.safetensors" for name in ("film", "mask")]


def test_the_final_unit_is_read_on_the_same_unseen_sources_as_the_averaged_fold_units(
    final_row,
    three_sets,  # noqa: F811
):
    assert run_final(final_row, three_sets, finals(final_row)) == 0
    out = json.loads((final_row / "out" / "report.json").read_text())
    row = json.loads((final_row / "mix" / "report.json").read_text())
    assert set(out["final_unseen_sources"]) == set(row["ensemble_unseen_sources"])
    assert out["tta_views"] == VIEWS
    n = {s: r["n"] for s, r in out["final_unseen_sources"].items()}
    assert n == {s: r["n"] for s, r in row["ensemble_unseen_sources"].items()}
    assert set(out["compare"]) == {"sources", "single", "ensemble", "final"}


def test_a_final_model_of_another_recipe_is_refused(final_row, three_sets):  # noqa: F811
    film, _ = finals(final_row)
    with pytest.raises(SystemExit, match="is not .*mask-tta's recipe"):
        run_final(final_row, three_sets, [film, film])


def test_the_exported_final_unit_serves_the_probabilities_it_was_read_with(
    final_row,
    three_sets,  # noqa: F811
):
    from inference.lungs import LungFinder
    from inference.predictor import Predictor
    from inference.preprocessing import to_model_array
    from inference.training.cli import parse_args
    from inference.training.heldout import ensemble_logits
    from inference.training.mix import fold_mix
    from scripts.final_mix import final_models
    from scripts.tta_eval import tta_logits

    assert run_final(final_row, three_sets, finals(final_row), "--export") == 0
    weights = final_row / "w" / "darkcovidnet.safetensors"
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert meta["final_fit"] is True and "ensemble_of_folds" not in meta
    assert "fitted on every film" in meta["architecture"]
    assert "fold models" not in meta["architecture"]
    assert meta["ensemble"]["member_inputs"] == [0, 1]
    assert meta["ensemble"]["units"] == [[0, 1]]
    assert meta["tta"]["views"] == VIEWS

    args = parse_args([*source_cv_args(three_sets, final_row / "mix")])
    models = final_models(args, fold_mix(final_row / "mix"), finals(final_row))
    # Real films, whose lungs the lung model finds: the film and its masked cut differ, so a
    # member served on the other's input would show.
    films = sorted(SAMPLES.glob("*.jpg"))
    lungs = LungFinder.load(LUNG_WEIGHTS)
    lungs.mode = "mask"
    inputs = [
        np.stack(
            [
                to_model_array(f.read_bytes(), size=32, margin=0, equalize="none", lungs=cut)
                for f in films
            ]
        )
        for cut in (None, lungs)
    ]
    assert np.abs(inputs[0].astype(int) - inputs[1]).mean() > 5

    def unit(channels):  # the film model on the first input, the mask model on the second
        return ensemble_logits(
            [
                tta_logits(m, a, views=VIEWS, norm="imagenet")
                for m, a in zip(models, channels, strict=True)
            ]
        )

    expected = M.softmax(unit(inputs), meta["temperature"])
    swapped = unit(inputs[::-1])
    assert not np.allclose(M.softmax(swapped, meta["temperature"]), expected, atol=1e-3)
    for lung_file in (LUNG_WEIGHTS, LUNG_WEIGHTS.with_suffix(".json")):  # served beside it
        shutil.copyfile(lung_file, weights.parent / lung_file.name)
    predictor = Predictor.load(weights, device="cpu")
    served = [predictor.predict(f.read_bytes()) for f in films]
    got = np.array([[r["probabilities"][c] for c in meta["classes"]] for r in served])
    assert np.allclose(got, expected, atol=1e-4)
