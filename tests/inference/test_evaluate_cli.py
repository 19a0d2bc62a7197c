import json
import shutil

import pytest

from inference import evaluate
from inference.predictor import Predictor


@pytest.fixture
def tiny_folder(tmp_path, samples_dir):
    root = tmp_path / "eval"
    for label in ("covid", "normal"):
        (root / label).mkdir(parents=True)
        shutil.copy(samples_dir / f"{label}.jpg", root / label / "a.jpg")
        shutil.copy(samples_dir / f"{label}.jpg", root / label / "b.png.jpg")
    (root / "normal" / "notes.txt").write_text("ignored: not an image suffix")
    return root


def test_it_writes_every_documented_key_for_a_two_class_folder(tiny_folder, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert (
        evaluate.main(
            ["--data", str(tiny_folder), "--json", str(out), "--plots", str(tmp_path / "p")]
        )
        == 0
    )
    report = json.loads(out.read_text())
    for key in (
        "n",
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "per_class",
        "confusion_matrix",
        "roc_auc",
        "covid",
        "model_version",
    ):
        assert key in report
    assert report["n"] == 4
    assert 0.0 <= report["accuracy"] <= 1.0 and 0.0 <= report["balanced_accuracy"] <= 1.0
    assert report["per_class"]["pneumonia"]["support"] == 0
    assert report["roc_auc"]["pneumonia"] is None
    assert report["confusion_matrix"]["labels"] == ["covid", "normal", "pneumonia"]
    assert sum(map(sum, report["confusion_matrix"]["matrix"])) == 4
    assert set(report["covid"]) == {"sensitivity", "specificity"}
    assert report["model_version"] == Predictor.load().model_version
    assert (tmp_path / "p" / "confusion_matrix.png").exists()
    assert "accuracy" in capsys.readouterr().out


def test_its_accuracy_agrees_with_the_predictor_on_each_file(tiny_folder, tmp_path):
    out = tmp_path / "m.json"
    evaluate.main(["--data", str(tiny_folder), "--json", str(out)])
    predictor = Predictor.load()
    files = sorted(tiny_folder.glob("*/*.jpg"))
    correct = sum(predictor.predict(f.read_bytes())["label"] == f.parent.name for f in files)
    assert json.loads(out.read_text())["accuracy"] == pytest.approx(correct / len(files))


def test_the_manifest_breakdown_sums_to_the_overall_counts(tiny_folder, tmp_path):
    (tiny_folder / "m.csv").write_text(
        "path,source\ncovid/a.jpg,site-a\ncovid/b.png.jpg,site-b\nnormal/a.jpg,site-a\nnormal/b.png.jpg,site-b\n"
    )
    out = tmp_path / "m.json"
    assert (
        evaluate.main(
            [
                "--data",
                str(tiny_folder),
                "--json",
                str(out),
                "--manifest",
                str(tiny_folder / "m.csv"),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    per_source = report["per_source"]
    assert set(per_source) == {"site-a", "site-b"}
    assert sum(s["n"] for s in per_source.values()) == report["n"]
    summed = [
        [sum(s["confusion_matrix"]["matrix"][i][j] for s in per_source.values()) for j in range(3)]
        for i in range(3)
    ]
    assert summed == report["confusion_matrix"]["matrix"]


@pytest.mark.parametrize("layout", ["missing", "empty", "wrong-names"])
def test_a_bad_folder_exits_non_zero_with_a_clear_message(tmp_path, capsys, layout):
    root = tmp_path / "d"
    if layout != "missing":
        root.mkdir()
    if layout == "wrong-names":
        (root / "covid19").mkdir()
        (root / "covid19" / "x.jpg").write_bytes(b"x")
    assert evaluate.main(["--data", str(root)]) != 0
    err = capsys.readouterr().err
    assert "error:" in err and str(root) in err
