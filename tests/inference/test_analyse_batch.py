"""``Predictor.analyse_batch``: one forward pass for several films, each result equal to
``analyse`` of that film alone (probabilities, label, band and Grad-CAM maps)."""

import numpy as np
import pytest
from PIL import Image

from inference.predictor import Predictor

TOLERANCE = 1e-5
EXPLAIN = ("predicted", "covid")


def _films(samples_dir) -> list[Image.Image]:
    films = [Image.open(samples_dir / f"{n}.jpg").convert("L") for n in ("covid", "normal")]
    films.append(Image.open(samples_dir / "pneumonia.jpg").convert("L").resize((700, 560)))
    films.append(films[1].rotate(5))
    return films


@pytest.mark.parametrize("engine", ["eager", "auto"])
def test_a_batch_gives_what_each_film_gives_alone(samples_dir, engine):
    predictor = Predictor.load(device="cpu", engine=engine, threads=1)
    films = _films(samples_dir)

    alone = [predictor.analyse(f, explain=EXPLAIN) for f in films]
    batch = predictor.analyse_batch(films, explain=EXPLAIN)

    assert len(batch) == len(films)
    for one, many in zip(alone, batch, strict=True):
        assert many.label == one.label and many.priority == one.priority
        assert many.model_version == one.model_version
        for c, p in one.probabilities.items():
            assert abs(many.probabilities[c] - p) < TOLERANCE
        assert many.heatmaps.keys() == one.heatmaps.keys()
        for c, heat in one.heatmaps.items():
            assert many.heatmaps[c].shape == heat.shape
            assert float(np.abs(many.heatmaps[c] - heat).max()) < TOLERANCE


def test_a_batch_without_explanations_has_no_maps_and_the_same_probabilities(samples_dir):
    predictor = Predictor.load(device="cpu", engine="eager", threads=1)
    films = _films(samples_dir)
    batch = predictor.analyse_batch(films)
    for film, many in zip(films, batch, strict=True):
        assert many.heatmaps == {}
        expected = predictor.predict(film)["probabilities"]
        assert many.probabilities == pytest.approx(expected, abs=TOLERANCE)


def test_a_batch_of_one_is_analyse_itself(samples_dir):
    predictor = Predictor.load(device="cpu", engine="eager", threads=1)
    film = _films(samples_dir)[0]
    (many,) = predictor.analyse_batch([film], explain=EXPLAIN)
    one = predictor.analyse(film, explain=EXPLAIN)
    assert many.probabilities == one.probabilities and many.heatmaps.keys() == one.heatmaps.keys()
