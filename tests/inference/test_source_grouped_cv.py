"""Source-grouped cross-validation (issue 9 step 3): cxr3 split by patient as before, every
other source held out whole in one fold, and the numbers read per held-out source."""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from inference import metrics as M
from inference import train
from inference.ensemble import DarkCovidNetEnsemble
from inference.model import DarkCovidNet
from inference.training.cv import train_indices
from inference.training.data import (
    GROUP_SPLIT_SOURCES,
    assign_sources_to_folds,
    grouped_folds,
    read_folders,
    source_grouped_folds,
)
from inference.training.heldout import (
    class_balanced_accuracy,
    ensemble_logits,
    held_out_sources,
    summarise_sources,
)
from inference.training.loop import source_sqrt_weights

CLASS_SHADE = {"covid": 200, "normal": 90, "pneumonia": 150}


def write_folder(root, rows, *, with_source: bool):
    rng = np.random.default_rng(len(rows))
    lines = ["path,label,source,group" if with_source else "path,label,group"]
    for i, (label, source, group) in enumerate(rows):
        (root / label).mkdir(parents=True, exist_ok=True)
        img = Image.fromarray(rng.integers(0, 60, size=(80, 80), dtype=np.uint8))
        ImageDraw.Draw(img).ellipse((15, 15, 65, 65), fill=CLASS_SHADE[label])
        img.save(root / label / f"{i}.png")
        cells = (
            [f"{label}/{i}.png", label, source, group]
            if with_source
            else [f"{label}/{i}.png", label, group]
        )
        lines.append(",".join(cells))
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def three_sets(tmp_path_factory):
    """A cxr3-like set (implicit sources), a cxr-multi-like one (one source per class) and a
    cxr-cases-like one whose first film shares cxr3's patient group g0."""
    base = tmp_path_factory.mktemp("sets")
    cxr3 = [(c, "", f"g{i}") for c in ("covid", "normal", "pneumonia") for i in range(10)]
    cxr3 = [(c, s, g if c == "covid" else f"{c}-{g}") for c, s, g in cxr3]
    multi = [("covid", "hosp-a", f"a{i}") for i in range(4)]
    multi += [("normal", "hosp-b", f"b{i}") for i in range(4)]
    multi += [("pneumonia", "kids", f"k{i}") for i in range(4)]
    cases = [("covid", "site-x", "g0")] + [("covid", "site-x", f"x{i}") for i in range(3)]
    cases += [("pneumonia", "site-x", f"xp{i}") for i in range(3)]
    cases += [("covid", "site-y", f"y{i}") for i in range(3)] + [("normal", "site-y", "yn")]
    return [
        write_folder(base / "cxr3", cxr3, with_source=False),
        write_folder(base / "cxr-multi", multi, with_source=True),
        write_folder(base / "cxr-cases", cases, with_source=True),
    ]


def test_cxr3_folds_are_exactly_the_cxr3_only_grouped_folds(three_sets):
    records = read_folders(three_sets)
    folds, _ = source_grouped_folds(records, n_folds=3, seed=42)
    alone = grouped_folds(read_folders(three_sets[:1]), n_folds=3, seed=42)
    for fold, own in zip(folds, alone, strict=True):
        cxr3_part = [i for i in fold if records[i].source in GROUP_SPLIT_SOURCES]
        assert cxr3_part == own.tolist()  # cxr3 is read first, so indices coincide


def test_every_other_source_is_held_out_whole_in_exactly_one_fold(three_sets):
    records = read_folders(three_sets)
    folds, assignment = source_grouped_folds(records, n_folds=3, seed=42)
    for source, k in assignment.items():
        films = {i for i, r in enumerate(records) if r.source == source and r.group != "cxr3:g0"}
        assert films <= set(folds[k].tolist())
        assert not any(films & set(f.tolist()) for j, f in enumerate(folds) if j != k)


def test_a_film_of_a_cxr3_patient_takes_cxr3s_group_and_no_fold(three_sets):
    records = read_folders(three_sets)
    shared = [i for i, r in enumerate(records) if r.source == "site-x" and r.group == "cxr3:g0"]
    assert len(shared) == 1
    folds, _ = source_grouped_folds(records, n_folds=3, seed=42)
    assert not any(shared[0] in f for f in folds)


def test_a_fold_model_never_trains_on_its_held_out_sources_nor_on_a_validation_patient(
    three_sets,
):
    records = read_folders(three_sets)
    folds, assignment = source_grouped_folds(records, n_folds=3, seed=42)
    everything = np.ones(len(records), dtype=bool)
    for k, valid in enumerate(folds):
        trained = train_indices(records, valid, everything, hold_out_sources=True)
        held = {s for s, f in assignment.items() if f == k}
        assert not {records[i].source for i in trained} & held
        assert not {records[i].group for i in trained} & {records[i].group for i in valid}


def test_sources_are_spread_so_that_every_fold_holds_out_covid_and_other_films():
    from inference.training.data import Record

    sizes = {"h": ("covid", 175), "o": ("normal", 274), "r": ("pneumonia", 300)}
    sizes |= {f"c{i}": ("covid", 100 - 10 * i) for i in range(6)}
    sizes |= {"m1": ("pneumonia", 27), "m2": ("pneumonia", 27)}
    records = [
        Record(path=None, label=label, group=f"{s}{i}", source=s)
        for s, (label, n) in sizes.items()
        for i in range(n)
    ]
    assignment = assign_sources_to_folds(records, n_folds=3)
    for k in range(3):
        labels = {sizes[s][0] for s, f in assignment.items() if f == k}
        assert "covid" in labels and labels - {"covid"}


def test_sqrt_sampling_gives_each_class_a_third_and_sources_a_share_by_the_root_of_their_size():
    from inference.training.data import Record

    records = [Record(path=None, label="covid", group="a", source="big")] * 100
    records += [Record(path=None, label="covid", group="b", source="small")] * 4
    records += [Record(path=None, label="normal", group="c", source="n")] * 30
    records += [Record(path=None, label="pneumonia", group="d", source="p")] * 7
    w = source_sqrt_weights(records)
    w = w / w.sum()
    share = lambda src: w[[r.source == src for r in records]].sum()  # noqa: E731
    assert share("n") == pytest.approx(1 / 3) and share("p") == pytest.approx(1 / 3)
    assert share("big") / share("small") == pytest.approx(10 / 2)


def per_source(**recalls):
    return {
        s: {
            "recall": r,
            "classes": dict.fromkeys(r, 10),
            "balanced_accuracy": np.mean(list(r.values())),
            "covid_auc": None,
            "high": {"covid_in_band": None, "non_covid_flagged": None},
        }
        for s, r in recalls.items()
    }


def test_a_model_that_calls_every_film_covid_gets_a_third_of_the_held_out_balanced_accuracy():
    sources = per_source(
        a={"covid": 1.0},
        b={"covid": 1.0},
        c={"covid": 1.0},
        d={"covid": 1.0},
        n={"normal": 0.0},
        p={"pneumonia": 0.0},
        mixed={"covid": 1.0, "pneumonia": 0.0},
    )
    assert class_balanced_accuracy(sources) == pytest.approx(1 / 3)
    assert summarise_sources(sources)["mean_balanced_accuracy"] > 0.6  # what the rule avoids


def test_a_source_with_too_few_films_of_a_class_does_not_count_for_that_class():
    sources = per_source(a={"covid": 1.0, "normal": 0.0}, n={"normal": 1.0})
    sources["a"]["classes"]["normal"] = 2
    assert class_balanced_accuracy(sources) == pytest.approx(1.0)


def test_a_held_out_source_is_banded_with_thresholds_fitted_without_it():
    rng = np.random.default_rng(0)
    y = np.array([0] * 20 + [1] * 20 + [0] * 10 + [2] * 10)
    sources = ["x"] * 40 + ["s"] * 20
    logits = rng.normal(size=(60, 3))
    seen = []

    def fit(lg, yy):
        seen.append(len(yy))
        return {"temperature": 1.0, "thresholds": {"covid_high": 0.4, "covid_medium": 0.2}}

    out = held_out_sources(
        sources, y, logits, np.ones(60, dtype=bool), fit_calibration=fit, fold_of_source={"s": 1}
    )
    assert seen == [40]  # fitted on the other 40 films only
    r = out["per_source"]["s"]
    p = M.softmax(logits[40:])[:, 0]
    assert r["high"]["covid_in_band"] == pytest.approx((p[:10] >= 0.4).mean())
    assert r["high"]["non_covid_flagged"] == pytest.approx((p[10:] >= 0.4).mean())


def test_the_ensembles_calibrated_probabilities_are_the_mean_of_its_members():
    torch.manual_seed(0)
    members = [DarkCovidNet(input_size=64).eval() for _ in range(3)]
    ens = DarkCovidNetEnsemble(members, temperature=1.7).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        expected = torch.stack([torch.softmax(m(x) / 1.7, 1) for m in members]).mean(0)
        got = torch.softmax(ens(x) / 1.7, 1)
    assert torch.allclose(got, expected, atol=1e-6)
    # and the report's ensemble (numpy) agrees with the module
    z = [m(x).detach().numpy() / 1.7 for m in members]
    assert np.allclose(M.softmax(ensemble_logits(z)), expected.numpy(), atol=1e-6)


def test_an_ensembles_state_dict_round_trips_into_a_fresh_ensemble():
    ens = DarkCovidNetEnsemble.build(2, input_size=64)
    fresh = DarkCovidNetEnsemble.build(2, input_size=64)
    fresh.load_state_dict(ens.state_dict(), strict=True)
    assert all(k.startswith("members.") for k in ens.state_dict())


def source_cv_args(three_sets, out) -> list[str]:
    """A cxr3-only recipe at 32 px, read on the other two sets, merged into ``out``."""
    return [
        *("--data", str(three_sets[0])),
        *("--eval-data", str(three_sets[1]), "--eval-data", str(three_sets[2])),
        *("--size", "32", "--epochs", "1", "--bs", "4", "--folds", "3", "--split", "sources"),
        *("--sampling", "none", "--aug", "published", "--norm", "imagenet"),
        *("--equalize", "none", "--margin", "0", "--threads", "1", "--out", str(out)),
    ]


@pytest.fixture(scope="module")
def source_cv(three_sets, tmp_path_factory):
    """A cxr3-only recipe, read on the other two sets, exported as the fold ensemble."""
    out = tmp_path_factory.mktemp("scv")
    args = source_cv_args(three_sets, out / "cv")
    assert train.main([*args, "--weights-dir", str(out / "w"), "--export-ensemble"]) == 0
    return out


def test_a_row_mixed_from_several_rows_exports_every_rows_members_and_training(
    source_cv, three_sets, tmp_path
):
    """Three rows mixed fold by fold (the second standing for a lung-cut row: its signature
    names the shipped lung model), merged and exported as the mixed row's ensemble."""
    import shutil

    from inference.lungs import LUNG_WEIGHTS
    from scripts.mix_rows import main as mix_rows

    lungs = json.loads(LUNG_WEIGHTS.with_suffix(".json").read_text())["model_version"]
    rows = []
    for name, extra in (("a", {}), ("b", {"lungs": lungs, "lungs_mode": "mask"}), ("c", {})):
        shutil.copytree(source_cv / "cv" / "folds", tmp_path / name / "folds")
        for fold in (tmp_path / name / "folds").glob("fold-*.json"):
            saved = json.loads(fold.read_text())
            fold.write_text(json.dumps(saved | {"signature": saved["signature"] | extra}))
        rows.append(str(tmp_path / name))
    assert mix_rows(["--rows", *rows, "--dst", str(tmp_path / "mix"), "--folds", "3"]) == 0
    args = source_cv_args(three_sets, tmp_path / "mix")
    assert train.main([*args, "--weights-dir", str(tmp_path / "w"), "--export-ensemble"]) == 0
    meta = json.loads((tmp_path / "w" / "darkcovidnet.json").read_text())
    assert meta["ensemble"]["member_inputs"] == [0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert meta["ensemble"]["units"] == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert meta["mixed_rows"] == rows
    assert [s.get("lungs_mode") for s in meta["mixed_signatures"]] == [None, "mask", None]
    assert meta["preprocessing"]["lungs"]["model_version"] == lungs


def test_a_cxr3_only_recipe_is_read_on_every_held_out_source_and_as_an_ensemble(source_cv):
    report = json.loads((source_cv / "cv" / "report.json").read_text())
    assert report["kind"] == "source-grouped-cv"
    assert report["pooled_out_of_fold"]["n"] == 30  # cxr3 only
    held = report["held_out_sources"]["per_source"]
    assert set(held) == {"hosp-a", "hosp-b", "kids", "site-x", "site-y"}
    assert held["site-x"]["n"] == 6  # the film of a cxr3 patient is left out
    assert set(report["ensemble_unseen_sources"]) == set(held)
    assert "Held-out sources" in (source_cv / "cv" / "report.md").read_text()


def test_the_fold_models_never_trained_on_a_film_of_the_other_sets(source_cv, three_sets):
    records = read_folders(three_sets)
    for k in range(3):
        fold = json.loads((source_cv / "cv" / "folds" / f"fold-{k}.json").read_text())
        assert {records[i].source for i in fold["train_idx"]} <= GROUP_SPLIT_SOURCES


def test_the_exported_ensemble_records_its_members_normalisation_and_held_out_summary(source_cv):
    meta = json.loads((source_cv / "w" / "darkcovidnet.json").read_text())
    assert meta["ensemble"]["members"] == 3
    assert meta["normalization"] == {"mean": [pytest.approx(0.449)], "std": [pytest.approx(0.226)]}
    assert "class_balanced_accuracy" in meta["held_out_sources"]
    from safetensors.torch import load_file

    state = load_file(str(source_cv / "w" / "darkcovidnet.safetensors"))
    DarkCovidNetEnsemble.build(3, input_size=32).load_state_dict(state, strict=True)


def test_train_indices_drop_a_validation_patients_other_films_and_a_held_out_sources_strays():
    from inference.training.data import Record

    a, b = (Record(path=None, label="normal", group=g, source="nih") for g in ("g1", "g2"))
    c = Record(path=None, label="covid", group="g1", source="site-x")  # a's patient, no fold
    d = Record(path=None, label="covid", group="x", source="site-x")
    records, everything = [a, b, c, d], np.ones(4, dtype=bool)
    # fold validating a (cxr3): c shares a's patient
    assert train_indices(records, np.array([0]), everything, hold_out_sources=True).tolist() == [
        1,
        3,
    ]
    # fold holding out site-x (d): c belongs to the held-out source
    assert train_indices(records, np.array([3]), everything, hold_out_sources=True).tolist() == [
        0,
        1,
    ]
    # a group-split CV holds no source out
    assert train_indices(records, np.array([3]), everything, hold_out_sources=False).tolist() == [
        0,
        1,
        2,
    ]


def test_view_balancing_gives_ap_and_pa_films_of_a_class_equal_shares():
    from inference.training.data import Record
    from inference.training.loop import view_balanced

    records = [Record(path=None, label="normal", group="a", source="nih", view="AP")] * 30
    records += [Record(path=None, label="normal", group="b", source="nih", view="PA")] * 10
    records += [Record(path=None, label="covid", group="c", source="x")] * 5
    records += [Record(path=None, label="pneumonia", group="d", source="y")] * 5
    w = view_balanced(source_sqrt_weights)(records)
    w = w / w.sum()
    ap, pa = w[:30].sum(), w[30:40].sum()
    assert ap == pytest.approx(pa) and ap + pa == pytest.approx(1 / 3)


def test_nothing_is_fitted_on_films_outside_the_fit_pool():
    rng = np.random.default_rng(1)
    y = np.array([0, 1] * 30)
    sources = ["cxr3"] * 20 + ["ext"] * 20 + ["s"] * 20
    seen = []

    def fit(lg, yy):
        seen.append(len(yy))
        return {"temperature": 1.0, "thresholds": {"covid_high": 0.4, "covid_medium": 0.2}}

    pool = np.array([True] * 20 + [False] * 40)  # only cxr3 is the recipe's own data
    held_out_sources(
        sources,
        y,
        rng.normal(size=(60, 3)),
        np.ones(60, dtype=bool),
        fit_pool=pool,
        fit_calibration=fit,
        fold_of_source={"s": 0, "ext": 1},
    )
    assert seen == [20, 20]
