"""Grad-CAM heatmaps: computed by the worker beside the prediction, served access-checked,
overlaid on the detail page."""

import io
import re
from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from inference.constants import DISPLAY_NAMES
from inference.pipeline import intake
from screening import storage
from screening.models import Heatmap, Prediction
from screening.tasks import process_screening

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_task(screening_id) -> str:
    return process_screening.apply(args=[str(screening_id)]).get()


def queued_with_image(screening_factory, data: bytes):
    decoded = intake(data, max_bytes=20 * 1024 * 1024)
    return screening_factory(
        status="queued",
        image=storage.store_png(decoded.png_bytes),
        image_width=decoded.width,
        image_height=decoded.height,
    )


@pytest.mark.parametrize("sample", ["covid", "normal", "pneumonia"])
def test_the_worker_stores_heatmaps_aligned_with_the_radiograph_without_changing_the_result(
    sample, screening_factory, use_real_predictor, sample_bytes, media_root
):
    from inference.gradcam import crop_box
    from screening.ml import get_predictor

    screening = queued_with_image(screening_factory, sample_bytes[sample])

    assert run_task(screening.pk) == "completed"

    # The stored probabilities are exactly predict()'s on the same bytes, heatmaps or not.
    expected = use_real_predictor.predict(sample_bytes[sample])
    prediction = Prediction.objects.get(screening=screening)
    assert prediction.probabilities == pytest.approx(expected["probabilities"], abs=1e-5)
    assert prediction.label == expected["label"]
    # ... and computing them changed nothing in the model.
    again = use_real_predictor.predict(sample_bytes[sample])
    assert again["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)

    heatmaps = list(prediction.heatmaps.all())
    wanted = [expected["label"]] + ([] if expected["label"] == "covid" else ["covid"])
    assert sorted(h.class_label for h in heatmaps) == sorted(wanted)
    gray = np.asarray(Image.open(media_root / screening.image.name))
    # The region the shipped model sees: its own margin, from its metadata (0 for the current one).
    top, bottom, left, right = crop_box(gray, margin=get_predictor().margin)
    for heatmap in heatmaps:
        assert re.fullmatch(r"heatmaps/[0-9a-f]{32}\.png", heatmap.image.name)
        with Image.open(media_root / heatmap.image.name) as png:
            # A palette PNG with per-entry alpha (tRNS), drawn as RGBA.
            assert (png.format, png.mode) == ("PNG", "P") and "transparency" in png.info
            # The radiograph's own geometry (both are stretched over the same box on the page).
            assert png.size == (heatmap.width, heatmap.height) == gray.shape[::-1]
            alpha = np.asarray(png.convert("RGBA"))[..., 3]
        if heatmap.class_label != expected["label"] and alpha.max() == 0:
            # Grad-CAM keeps only evidence *for* a class: on a film predicted as another class
            # the COVID-19 map may be empty (the page says what an empty map means).
            continue
        assert alpha.std() > 5, "the heatmap is constant"
        # Heat only inside the region the model saw (borders trimmed, the model's margins cropped).
        assert alpha[:top].max(initial=0) == 0 and alpha[bottom:].max(initial=0) == 0
        assert alpha[:, :left].max(initial=0) == 0 and alpha[:, right:].max(initial=0) == 0
        assert alpha[top:bottom, left:right].max() > 200


def test_a_large_radiograph_gets_a_heatmap_of_the_same_shape_at_most_max_side(
    screening_factory, use_real_predictor, sample_bytes, settings
):
    settings.HEATMAP_MAX_SIDE = 200
    screening = queued_with_image(screening_factory, sample_bytes["covid"])  # 380 x 312
    run_task(screening.pk)
    heatmap = Heatmap.objects.get(prediction__screening=screening, class_label="covid")
    assert max(heatmap.width, heatmap.height) == 200
    assert heatmap.width / heatmap.height == pytest.approx(380 / 312, rel=0.01)


def test_the_worker_lays_the_maps_on_the_film_at_the_stored_size_not_its_full_size(
    use_real_predictor, sample_bytes, settings
):
    """Mapping onto a 2048 px film and shrinking after cost 3-6x more (issue 14)."""
    from screening.services.processing import screening_analyse

    settings.HEATMAP_MAX_SIDE = 200
    image = Image.open(io.BytesIO(sample_bytes["covid"])).convert("L")  # 380 x 312
    analysis = screening_analyse(image=image)
    assert analysis.heatmaps
    for heat in analysis.heatmaps.values():
        assert heat.shape == (164, 200)


@pytest.mark.parametrize("where", ["inference.explain.input_cams", "inference.gradcam.heatmap_png"])
def test_a_heatmap_failure_does_not_fail_the_screening(
    where, screening_factory, use_real_predictor, sample_bytes, monkeypatch, media_files
):
    """Grad-CAM itself (in the model library: the maps from the gradients, which every path of
    the predictor computes, with or without test-time views or several inputs) or the PNG
    rendering (in the worker) fails."""

    def broken(*args, **kwargs):
        raise RuntimeError("simulated Grad-CAM failure")

    monkeypatch.setattr(where, broken)
    screening = queued_with_image(screening_factory, sample_bytes["normal"])
    assert run_task(screening.pk) == "completed"
    expected = use_real_predictor.predict(sample_bytes["normal"])
    prediction = Prediction.objects.get(screening=screening)
    assert prediction.probabilities == pytest.approx(expected["probabilities"], abs=1e-5)
    assert Heatmap.objects.count() == 0
    assert [p.parent.name for p in media_files()] == ["radiographs"]


def test_heatmaps_can_be_switched_off(
    screening_factory, use_real_predictor, sample_bytes, settings
):
    settings.INFERENCE_HEATMAPS = False
    screening = queued_with_image(screening_factory, sample_bytes["normal"])
    assert run_task(screening.pk) == "completed"
    assert Heatmap.objects.count() == 0


def test_the_worker_asks_for_the_predicted_class_and_covid_and_stores_exactly_those(
    screening_factory, fake_predictor, settings
):
    fake_predictor.probabilities = {"covid": 0.1, "normal": 0.2, "pneumonia": 0.7}
    screening = screening_factory(status="queued")
    assert run_task(screening.pk) == "completed"
    assert fake_predictor.explained == [("predicted", "covid")]
    stored = Heatmap.objects.filter(prediction__screening=screening)
    assert sorted(h.class_label for h in stored) == ["covid", "pneumonia"]

    settings.INFERENCE_HEATMAPS = False
    other = screening_factory(status="queued")
    assert run_task(other.pk) == "completed"
    assert fake_predictor.explained[-1] == ()
    assert not Heatmap.objects.filter(prediction__screening=other).exists()


# --- serving and the page ---------------------------------------------------------------------
def rgba_png(size=(96, 96)) -> bytes:
    arr = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    arr[20:60, 20:60] = (255, 0, 0, 200)
    buffer = io.BytesIO()
    Image.fromarray(arr, mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def with_heatmaps(make_scored):
    def make(region: str = "NORTH-01", labels=("normal", "covid")):
        screening = make_scored(prob_covid=0.2, region=region)
        for label in labels:
            Heatmap.objects.create(
                prediction=screening.prediction,
                class_label=label,
                image=storage.store_heatmap(rgba_png()),
                width=96,
                height=96,
            )
        return screening

    return make


def test_a_heatmap_is_served_privately_to_clinicians_of_the_region_only(
    north_client, south_client, client, with_heatmaps
):
    screening = with_heatmaps()
    url = reverse("screening:heatmap", args=[screening.pk, "covid"])

    response = north_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content) == rgba_png()

    assert south_client.get(url).status_code == 404  # another region: does not exist
    assert client.get(url).status_code == 302  # not signed in: to the login page
    missing = reverse("screening:heatmap", args=[screening.pk, "pneumonia"])
    assert north_client.get(missing).status_code == 404


def test_the_detail_page_overlays_the_heatmap_with_toggle_opacity_class_and_legend(
    north_client, with_heatmaps
):
    screening = with_heatmaps()
    html = north_client.get(reverse("screening:detail", args=[screening.pk])).content.decode()

    assert 'id="heat-toggle"' in html and 'type="checkbox"' in html
    assert re.search(r'<input type="range" id="heat-opacity"', html)
    options = re.findall(
        r'<option value="(\w+)">([^<]+)</option>', html.split('id="heat-class"')[1]
    )
    assert options == [
        ("normal", f"{DISPLAY_NAMES['normal']} (predicted)"),
        ("covid", DISPLAY_NAMES["covid"]),
    ]
    for label in ("normal", "covid"):
        assert reverse("screening:heatmap", args=[screening.pk, label]) in html
    assert 'class="heat-scale"' in html and ">low<" in html and "high attention" in html
    assert "where the model looked" in html and "not where disease is" in html
    assert "js/heatmap.js" in html


def test_the_detail_page_has_no_heatmap_controls_without_heatmaps(north_client, make_scored):
    screening = make_scored()
    html = north_client.get(reverse("screening:detail", args=[screening.pk])).content.decode()
    assert 'id="heat-toggle"' not in html
    assert "No heatmap is available" in html


def test_one_heatmap_needs_no_class_selector(north_client, with_heatmaps):
    screening = with_heatmaps(labels=("covid",))
    html = north_client.get(reverse("screening:detail", args=[screening.pk])).content.decode()
    assert 'id="heat-toggle"' in html and 'id="heat-class"' not in html


def test_the_legend_gradient_is_the_heatmap_colormap():
    """The CSS gradient of the legend has exactly the colours of inference.gradcam.jet."""
    from inference.gradcam import jet

    css = (REPO_ROOT / "static" / "css" / "portal.css").read_text()
    gradient = re.search(r"\.heat-scale \{[^}]*linear-gradient\(to right, ([^)]*)\)", css)
    stops = re.findall(r"#([0-9a-f]{6}) ([\d.]+)%", gradient.group(1))
    assert len(stops) >= 5
    for colour, percent in stops:
        expected = jet(np.array([float(percent) / 100]))[0]
        actual = np.array([int(colour[i : i + 2], 16) for i in (0, 2, 4)])
        assert np.abs(actual - expected.astype(int)).max() <= 1, (colour, percent, expected)
    positions = np.linspace(0, 1, 33)  # and it is linear between the stops, like jet
    xs = [float(p) / 100 for _, p in stops]
    for channel in range(3):
        ys = [int(c[2 * channel : 2 * channel + 2], 16) for c, _ in stops]
        assert np.abs(np.interp(positions, xs, ys) - jet(positions)[:, channel]).max() <= 1.5
