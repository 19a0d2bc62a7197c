"""The recipe table applies the ship rule declared in reports/recipes/SHIP_RULE.md."""

import json

import pytest

from scripts import recipe_table as rt


def report(cxr3_accuracy, held_out, *, variant=None, size=128):
    band = {"covid_in_band": 0.9, "non_covid_flagged": 0.3}
    return {
        "kind": "source-grouped-cv",
        "pooled_out_of_fold": {
            "accuracy": cxr3_accuracy,
            "balanced_accuracy": cxr3_accuracy,
            "covid": {"sensitivity": 0.8},
            "roc_auc": {"covid": 0.95},
        },
        "cxr3_bands": {"high": band},
        "held_out_sources": {
            "summary": {
                "class_balanced_accuracy": held_out,
                "mean_balanced_accuracy": held_out,
                "min_class_recall": 0.1,
                "min_covid_auc": 0.6,
                "min_covid_in_high": 0.8,
                "max_non_covid_flagged_high": 0.9,
            },
            "per_source": {"openist": {"balanced_accuracy": held_out}},
        },
        "provenance": {
            "variant": variant or {},
            "epochs": 8,
            "input_size": size,
            "command": "python -m inference.train ...",
        },
    }


@pytest.fixture
def recipes(tmp_path, monkeypatch):
    monkeypatch.setattr(rt, "RECIPES", tmp_path)

    def write(name, rep):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(rep))

    return write


def decide():
    return rt.ship(rt.collect())


def test_a_recipe_below_the_baselines_cxr3_accuracy_cannot_ship_however_good_elsewhere(recipes):
    recipes("baseline", report(0.80, 0.30, variant={"eval_data": ["x"]}))
    recipes("multi", report(0.79, 0.60, variant={"sampling": "source-sqrt"}))
    d = decide()
    assert d["eligible"] == ["baseline"] and d["winner"] == "baseline"


def test_among_eligible_recipes_the_best_held_out_balanced_accuracy_ships(recipes):
    recipes("baseline", report(0.80, 0.30, variant={"eval_data": ["x"]}))
    recipes("multi", report(0.81, 0.50, variant={"sampling": "source-sqrt"}))
    recipes("multi-lungs", report(0.82, 0.55, variant={"sampling": "source-sqrt", "lungs": "l@1"}))
    assert decide()["winner"] == "multi-lungs"


def test_a_tie_within_half_a_point_goes_to_the_simpler_recipe(recipes):
    recipes("baseline", report(0.80, 0.30, variant={"eval_data": ["x"]}))
    recipes("multi", report(0.81, 0.552, variant={"sampling": "source-sqrt"}))
    recipes("multi-lungs", report(0.82, 0.555, variant={"sampling": "source-sqrt", "lungs": "l@1"}))
    d = decide()
    assert d["tied_within_0.5_points"] == ["multi", "multi-lungs"] and d["winner"] == "multi"


def test_the_table_has_one_row_per_recipe_baseline_first(recipes):
    recipes("a-multi", report(0.81, 0.5))
    recipes("baseline", report(0.80, 0.3, variant={"eval_data": ["x"]}))
    rows = rt.collect()
    assert [r["recipe"] for r in rows] == ["baseline", "a-multi"]
    text = rt.render(rows, rt.ship(rows))
    assert "| baseline | 80.0 |" in text and "winner **a-multi**" in text


def test_a_served_test_time_augmentation_row_ships_when_it_wins_and_loses_a_tie():
    rows = [
        {**rt.row("baseline", report(0.80, 0.30)), "tta_views": None},
        {**rt.row("plain", report(0.81, 0.35)), "tta_views": None},
        {**rt.row("plain-tta", report(0.83, 0.40)), "tta_views": ["identity", "zoom1.04"]},
    ]
    decision = rt.ship(rows)
    assert decision["winner"] == "plain-tta" and "plain-tta" in decision["eligible"]
    assert "identity, zoom1.04" in rt.render(rows, decision)
    # within 0.5 points the recipe without test-time views (a third of the cost) wins
    rows[2] = {**rt.row("plain-tta", report(0.83, 0.353)), "tta_views": ["identity", "zoom1.04"]}
    assert rt.ship(rows)["winner"] == "plain"


def test_a_row_mixed_from_two_rows_loses_a_tie_to_a_single_row(recipes, tmp_path):
    cxr3 = {"eval_data": ["x"], "sampling": "source-sqrt"}
    recipes("baseline", report(0.80, 0.30, variant={"eval_data": ["x"]}))
    recipes("single", report(0.81, 0.402, variant=cxr3))
    recipes("mixed", report(0.82, 0.405, variant=cxr3))
    folds = tmp_path / "mixed" / "folds"
    folds.mkdir()
    mix = [{"row": "reports/recipes/a", "signature": {}}, {"row": "reports/recipes/b"}]
    (folds / "fold-0.json").write_text(json.dumps({"mix": mix}))
    rows = {r["recipe"]: r for r in rt.collect()}
    assert rows["mixed"]["mix"] == ["a", "b"] and rows["single"]["mix"] == []
    assert decide()["winner"] == "single"  # within 0.5 points: the simpler
    recipes("clearly", report(0.82, 0.45, variant=cxr3))
    (tmp_path / "clearly" / "folds").mkdir()
    (tmp_path / "clearly" / "folds" / "fold-0.json").write_text(json.dumps({"mix": mix}))
    assert decide()["winner"] == "clearly"
    assert "fold by fold the mean of the probabilities of a and b" in rt.render(
        rt.collect(), decide()
    )


def test_a_row_declared_as_a_noise_measurement_never_ships_however_good(recipes):
    recipes("baseline", report(0.80, 0.30, variant={"eval_data": ["x"]}))
    recipes("bviews-tta", report(0.82, 0.40, variant={"eval_data": ["x"]}))
    recipes("bviews-mix-s43-tta", report(0.85, 0.60, variant={"eval_data": ["x"]}))
    d = decide()
    assert d["winner"] == "bviews-tta" and "bviews-mix-s43-tta" not in d["eligible"]
