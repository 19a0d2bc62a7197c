import io

import numpy as np
import pytest
import torch
from PIL import Image

from inference.decode import ImageDecodeError, decode_image
from inference.preprocessing import (
    MEAN,
    STD,
    crop_margin,
    preprocess,
    to_model_array,
    trim_uniform_border,
)
from inference.training.data import Record, load_arrays
from inference.training.loop import build_dataloaders


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_the_training_validation_batch_equals_the_serving_tensor(samples_dir):
    records = [
        Record(path=samples_dir / f"{c}.jpg", label=c, group=c, source="samples")
        for c in ("covid", "normal", "pneumonia")
    ]
    records = records + records  # fastai needs a non-empty training split beside the valid one
    arrays = load_arrays(records, size=256)
    dls = build_dataloaders(records, arrays, [3, 4, 5], bs=3, seed=0, augment=True)
    xb, yb = dls.valid.one_batch()
    served = torch.stack([preprocess(r.path.read_bytes()) for r in records[3:]])
    assert xb.shape == served.shape == (3, 1, 256, 256)
    # One grey level is 1/255/STD ~ 0.0135 in model units; float32 rounding is ~1e-5.
    assert torch.max(torch.abs(torch.as_tensor(xb).float() - served)).item() < 1e-4
    assert yb.tolist() == [0, 1, 2]


def test_bytes_and_an_already_decoded_image_give_the_same_input(sample_bytes):
    from_bytes = preprocess(sample_bytes["normal"])
    from_image = preprocess(Image.open(io.BytesIO(sample_bytes["normal"])))
    assert torch.equal(from_bytes, from_image)


def test_the_model_input_is_equalised_and_normalised(sample_bytes):
    x = preprocess(sample_bytes["covid"])
    assert x.dtype == torch.float32 and x.shape == (1, 256, 256)
    raw = x * STD + MEAN
    assert raw.min() >= -1e-6 and raw.max() <= 1 + 1e-6
    # Equalisation spreads grey levels over the whole range whatever the source's exposure.
    assert abs(raw.mean().item() - 0.5) < 0.05


def test_a_dark_and_a_bright_exposure_of_one_film_give_nearly_the_same_input(sample_bytes):
    base = np.asarray(decode_image(sample_bytes["normal"]), dtype=np.float64)
    dark = Image.fromarray((base * 0.5).astype(np.uint8))
    bright = Image.fromarray((base * 0.5 + 120).astype(np.uint8))
    diff = torch.abs(preprocess(png_bytes(dark)) - preprocess(png_bytes(bright)))
    assert diff.mean().item() < 0.05


def test_a_flat_frame_around_a_figure_is_trimmed_away():
    rng = np.random.default_rng(0)
    content = rng.integers(0, 255, size=(100, 80), dtype=np.uint8)
    framed = np.full((140, 120), 255, dtype=np.uint8)
    framed[20:120, 20:100] = content
    assert trim_uniform_border(framed).shape == (100, 80)
    assert crop_margin(np.zeros((100, 200), np.uint8), margin=0.1).shape == (80, 160)


def reference_trim_box(arr, max_std=4.0):
    """The border trim's definition: ``trim_box`` on float64 pixels takes numpy's float64
    standard deviations (the integer arithmetic is for 8/16-bit films only)."""
    from inference.geometry import trim_box

    return trim_box(np.asarray(arr, dtype=np.float64), max_std=max_std)


def test_the_fast_border_trim_finds_exactly_the_box_of_its_definition(sample_bytes):
    from inference.geometry import trim_box

    rng = np.random.default_rng(3)
    films = [np.asarray(decode_image(data)) for data in sample_bytes.values()]
    framed = np.pad(films[0], ((70, 130), (3, 200)), constant_values=17)
    ramp = np.tile(np.arange(300, dtype=np.uint8), (150, 1))  # every row alike, columns flat
    at_threshold = rng.integers(0, 256, (200, 300), dtype=np.uint8)
    at_threshold[:5] = np.tile(np.array([0, 8], np.uint8), (5, 150))  # std exactly 4: trimmed
    noisy = np.pad(rng.integers(0, 256, (600, 900), dtype=np.uint8), 130, constant_values=250)
    noisy[:, :4] = rng.integers(0, 9, (860, 4), dtype=np.uint8)  # a faint, nearly flat border
    sixteen = np.pad(rng.integers(0, 65536, (300, 200), dtype=np.uint16), 40, constant_values=9)
    for arr in [*films, framed, ramp, ramp.T, at_threshold, noisy, sixteen]:
        assert trim_box(arr) == reference_trim_box(arr), arr.shape
        assert trim_box(arr, max_std=20.0) == reference_trim_box(arr, 20.0), arr.shape
    assert trim_box(framed) == (70, 70 + films[0].shape[0], 3, 3 + films[0].shape[1])
    assert trim_box(at_threshold)[0] == 5


def test_the_fast_image_std_equals_numpys_on_films_flat_images_and_views(sample_bytes):
    from inference.geometry import image_std

    rng = np.random.default_rng(5)
    films = [np.asarray(decode_image(data)) for data in sample_bytes.values()]
    arrays = [
        *films,
        films[0][::3, 7:],  # a strided view
        np.full((40, 30), 200, np.uint8),
        np.tile(np.array([0, 8], np.uint8), (6, 9)),  # std exactly 4: the lung check's limit
        rng.integers(0, 65536, (50, 40), dtype=np.uint16),
        rng.random((20, 20)),
    ]
    for arr in arrays:
        assert image_std(arr) == pytest.approx(float(arr.std()), rel=1e-12, abs=1e-12)


def test_colour_and_transparent_images_become_grayscale_on_black():
    rgba = Image.new("RGBA", (100, 100), (255, 255, 255, 0))
    rgba.paste((200, 10, 10, 255), (25, 25, 75, 75))
    gray = decode_image(png_bytes(rgba))
    assert gray.mode == "L"
    assert gray.getpixel((5, 5)) == 0
    assert gray.getpixel((50, 50)) == Image.new("RGB", (1, 1), (200, 10, 10)).convert("L").getpixel(
        (0, 0)
    )


def test_sixteen_bit_images_use_their_whole_range():
    ramp = (np.arange(128 * 128, dtype=np.uint32).reshape(128, 128) % 4096).astype(np.uint16)
    img = Image.fromarray(ramp)
    assert img.mode == "I;16"
    gray = decode_image(png_bytes(img))
    arr = np.asarray(gray)
    assert arr.min() == 0 and arr.max() == 255


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"hello, this is text", "not a PNG"),
    ],
)
def test_it_rejects_what_is_not_an_image_with_a_plain_message(payload, message):
    with pytest.raises(ImageDecodeError, match=message):
        to_model_array(payload)


def test_it_rejects_a_truncated_jpeg(sample_bytes):
    with pytest.raises(ImageDecodeError):
        to_model_array(sample_bytes["covid"][: len(sample_bytes["covid"]) // 2])
