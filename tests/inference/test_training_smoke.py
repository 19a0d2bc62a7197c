"""One epoch on a dozen tiny generated images: the whole train -> export -> reload path."""

import json

import pytest

from inference import train
from inference.predictor import Predictor, WeightsIntegrityError
from tests.inference.tiny_data import tiny_dataset_write


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return tiny_dataset_write(tmp_path_factory.mktemp("tiny"), per_class=4, seed=7)


def tiny_args(dataset, *extra: str) -> list[str]:
    """One epoch at 64 px, batch 4: the smallest run that exercises the whole path."""
    return ["--data", str(dataset), "--size", "64", "--epochs", "1", "--bs", "4", *extra]


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = train.main(
        tiny_args(
            tiny_dataset,
            "--folds",
            "2",
            "--export",
            "--out",
            str(out / "cv"),
            "--weights-dir",
            str(out / "w"),
            "--name",
            "smoke",
        )
    )
    assert code == 0
    return out


def test_cross_validation_writes_a_report_with_every_metric_and_the_plots(trained):
    report = json.loads((trained / "cv" / "report.json").read_text())
    assert report["folds"] == 2
    assert report["pooled_out_of_fold"]["n"] == 12
    for key in (
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "covid_sensitivity",
        "covid_specificity",
    ):
        assert set(report["summary"][key]) == {"mean", "std"}
    assert sum(map(sum, report["pooled_out_of_fold"]["confusion_matrix"]["matrix"])) == 12
    assert report["calibration"]["temperature"] > 0
    t = report["calibration"]["thresholds"]
    assert 0 <= t["covid_medium"] <= t["covid_high"] <= 1
    prov = report["provenance"]
    assert (
        prov["seed"] == 42
        and prov["versions"]["torch"]
        and len(next(iter(prov["data_manifest_sha256"].values()))) == 64
    )
    for png in ("loss_curves.png", "confusion_matrix.png", "roc_curves.png"):
        assert (trained / "cv" / "plots" / png).stat().st_size > 1000
    oof = (trained / "cv" / "oof.csv").read_text().splitlines()
    assert len(oof) == 13


def test_the_exported_model_reloads_and_predicts_calibrated_probabilities(trained, tiny_dataset):
    predictor = Predictor.load(trained / "w" / "smoke.safetensors", device="cpu")
    meta = predictor.metadata
    assert meta["input_size"] == 64 and meta["classes"] == ["covid", "normal", "pneumonia"]
    result = predictor.predict((tiny_dataset / "covid" / "0.png").read_bytes())
    assert set(result["probabilities"]) == {"covid", "normal", "pneumonia"}
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
    assert result["model_version"] == meta["model_version"]
    batch = predictor.predict_many(
        [(tiny_dataset / c / "1.png").read_bytes() for c in ("covid", "normal")]
    )
    single = predictor.predict((tiny_dataset / "normal" / "1.png").read_bytes())
    assert batch[1]["probabilities"]["normal"] == pytest.approx(
        single["probabilities"]["normal"], abs=1e-5
    )


def test_altered_weights_are_refused(trained, tmp_path):
    src = trained / "w" / "smoke.safetensors"
    bad = tmp_path / "smoke.safetensors"
    data = bytearray(src.read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / "smoke.json").write_text((trained / "w" / "smoke.json").read_text())
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        Predictor.load(bad)


def test_the_final_fit_without_calibration_says_how_to_get_it(tiny_dataset, capsys, tmp_path):
    code = train.main(tiny_args(tiny_dataset, "--weights-dir", str(tmp_path)))
    assert code == 2
    assert "--cv-report" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_folds_and_the_final_fit_run_as_separate_jobs_and_are_reused(
    tiny_dataset, tmp_path, caplog
):
    common = tiny_args(
        tiny_dataset,
        "--folds",
        "2",
        "--out",
        str(tmp_path / "cv"),
        "--weights-dir",
        str(tmp_path / "w"),
        "--threads",
        "1",
    )
    assert train.main([*common, "--only-fold", "1"]) == 0
    assert train.main([*common, "--only-final"]) == 0
    assert (tmp_path / "cv" / "folds" / "fold-1.json").exists()
    assert not (tmp_path / "w").exists()
    caplog.clear()
    with caplog.at_level("INFO", logger="inference.train"):
        assert train.main([*common, "--export"]) == 0
    assert "fold 2: reusing" in caplog.text and "final model: reusing" in caplog.text
    assert "fold 1: reusing" not in caplog.text  # fold 0 had not been run: it was trained here
    assert Predictor.load(tmp_path / "w" / "darkcovidnet.safetensors").metadata["input_size"] == 64
    # A changed setting never reuses stale results.
    caplog.clear()
    with caplog.at_level("INFO", logger="inference.train"):
        assert train.main([*common, "--seed", "5", "--only-fold", "1"]) == 0
    assert "reusing" not in caplog.text


def test_leave_one_source_out_trains_without_the_source_and_reports_on_it(tiny_dataset, tmp_path):
    code = train.main(
        tiny_args(tiny_dataset, "--out", str(tmp_path), "--holdout-source", "ieee8023-figures")
    )
    assert code == 0
    report = json.loads((tmp_path / "loso-ieee8023-figures.json").read_text())
    assert report["trained_on"] == {"nih": 8}
    assert report["held_out"]["n"] == 4
    assert report["held_out"]["per_class"]["covid"]["support"] == 4
    assert sum(report["called"].values()) == pytest.approx(1.0)
    assert report["held_out"]["accuracy"] == pytest.approx(report["called"]["covid"])
