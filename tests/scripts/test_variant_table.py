"""The variant table: LOSO means over the three held-out sources, the borrowed paediatric cell of
the no-paediatric recipe, and the cxr3-only part of a multi-source CV."""

import json

import pytest

from scripts import variant_table as vt


def write_loso(folder, source, called, suffix=""):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"loso-{source}{suffix}.json").write_text(
        json.dumps({"called": called, "provenance": {"input_size": 128, "epochs": 25}})
    )


@pytest.fixture
def reports(tmp_path, monkeypatch):
    variants = tmp_path / "reports" / "variants"
    monkeypatch.setattr(vt, "ROOT", tmp_path)
    monkeypatch.setattr(vt, "VARIANTS", variants)
    base = variants / "multi-base"
    write_loso(base, "hannover", {"covid": 0.6, "normal": 0.1, "pneumonia": 0.3})
    write_loso(base, "openist", {"covid": 0.1, "normal": 0.7, "pneumonia": 0.2})
    write_loso(base, "radiography-db", {"covid": 0.8, "normal": 0.0, "pneumonia": 0.2})
    nopaed = variants / "multi-nopaed"
    without = "-without-radiography-db"
    write_loso(nopaed, "hannover", {"covid": 0.9, "normal": 0.0, "pneumonia": 0.1}, without)
    write_loso(nopaed, "openist", {"covid": 0.0, "normal": 0.5, "pneumonia": 0.5}, without)
    # A multi-source CV: the cxr3 images (ieee8023-figures, nih) are scored apart from the rest.
    cv = variants / "multi-cv"
    cv.mkdir()
    (cv / "report.json").write_text(
        json.dumps({"per_source_out_of_fold": {"nih": {"n": 2, "accuracy": 0.5}}})
    )
    rows = [
        "path,label,source,group,fold,logit_covid,logit_normal,logit_pneumonia",
        "a,covid,ieee8023-figures,g1,0,3,0,0",
        "b,normal,nih,g2,1,0,3,0",
        "c,pneumonia,nih,g3,2,0,3,0",
        "d,normal,openist,g4,3,3,0,0",
    ]
    (cv / "oof.csv").write_text("\n".join(rows) + "\n")
    return variants


def test_it_averages_the_three_held_out_recalls_and_borrows_only_the_identical_cell(reports):
    rows = {r["variant"]: r for r in vt.collect()}
    assert rows["multi-base"]["mean_loso_balanced_accuracy"] == pytest.approx((0.6 + 0.7 + 0.2) / 3)
    nopaed = rows["multi-nopaed"]
    assert nopaed["loso"]["radiography-db"]["borrowed_from"] == "multi-base"
    assert nopaed["mean_loso_balanced_accuracy"] == pytest.approx((0.9 + 0.5 + 0.2) / 3)
    assert nopaed["loso"]["openist"]["called_covid"] == 0.0
    (reports / "multi-nopaed" / "loso-openist-without-radiography-db.json").unlink()
    again = {r["variant"]: r for r in vt.collect()}["multi-nopaed"]
    assert "openist" not in again["loso"] and again["mean_loso_balanced_accuracy"] is None
    # Reference rows whose reports are missing stay incomplete instead of inventing a mean.
    assert rows["multi-base (256 px)"]["mean_loso_balanced_accuracy"] is None


def test_the_cxr3_accuracy_of_a_multi_source_cv_ignores_the_other_sources(reports):
    cxr3 = vt.cv_summary(reports / "multi-cv")["cxr3"]
    assert cxr3["n"] == 3
    assert cxr3["accuracy"] == pytest.approx(2 / 3)
    assert cxr3["covid_sensitivity"] == 1.0
    text = vt.render(vt.collect())
    assert "| multi-cv |" in text and "66.7" in text
