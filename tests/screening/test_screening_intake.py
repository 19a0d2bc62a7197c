"""Clinical image intake (issue 4): DICOM, the chest X-ray gate, hostile files, the size limit.

Form and API alike: every refusal is a 4xx with the library's plain message on ``image``, no
Screening row and no file left under MEDIA_ROOT.
"""

import io
import re

import numpy as np
import pytest
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.urls import reverse
from PIL import Image, ImageDraw

from screening.models import Screening

API_URL = "/api/v1/screenings/"
MB = 1024 * 1024
# The fake identity that scripts/make_sample_dicoms.py writes into every sample file.
FAKE_PHI = [
    b"Testperson",
    b"Erika",
    b"FAKE-1234567",
    b"FAKE-OTHER-99",
    b"19610412",
    b"ACC-FAKE-42",
    b"Fictional General Hospital",
    b"Nowhere Road",
    b"Doctor^Fake",
    b"Radiographer^Fake",
    b"Operator^Fake",
    b"FAKE-DR-ROOM-3",
    b"bed 12",
    b"SN-FAKE-0001",
    b"1.2.826.0.1.3680043.8.498.11111111111111111111",
    b"1.2.826.0.1.3680043.8.498.22222222222222222222",
]


def post_form(client, fields: dict, file):
    return client.post(reverse("screening:submit"), {**fields, "consent": "on", "image": file})


def post_api(api_client, fields: dict, file):
    return api_client.post(API_URL, {**fields, "image": file}, format="multipart")


def form_image_errors(response) -> str:
    html = response.content.decode()
    return html.split('id="field-image"', 1)[1].split("</div>", 1)[0]


def post_via(via: str, client, api_client, fields: dict, file):
    """Submit through the patient form ("form") or the JSON API ("api")."""
    if via == "form":
        return post_form(client, fields, file)
    return post_api(api_client, fields, file)


def image_errors(via: str, response) -> str:
    """The messages shown for the image field, from the form's HTML or the API's JSON."""
    if via == "form":
        return form_image_errors(response)
    return " ".join(response.json()["image"])


def png(arr: np.ndarray | Image.Image, fmt: str = "PNG") -> bytes:
    image = arr if isinstance(arr, Image.Image) else Image.fromarray(arr)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def radiograph_array(side: int = 320) -> np.ndarray:
    from tests.conftest import SAMPLES_DIR

    with Image.open(SAMPLES_DIR / "normal.jpg") as image:
        gray = image.convert("L")
    gray.thumbnail((side, side))
    return np.asarray(gray, dtype=np.float64)


# --- DICOM ------------------------------------------------------------------------------------
def test_a_dicom_without_extension_is_accepted_through_the_form_and_stored_de_identified(
    client, regions, submission_data, upload, dicom_samples, media_root, media_files
):
    import pydicom

    from inference.decode import decode_image

    data = dicom_samples["covid_mono2_16bit"]
    # No extension and a meaningless Content-Type: the content decides.
    response = post_form(client, submission_data(), upload(data, "IM000017", "application/x-foo"))

    assert response.status_code == 302, form_image_errors(response)
    screening = Screening.objects.get()
    assert screening.source_format == "dicom"
    assert screening.full_name == "Amina Okafor"  # identity lives in the screening's fields
    assert re.fullmatch(r"radiographs/[0-9a-f]{32}\.png", screening.image.name)
    assert re.fullmatch(r"dicom/[0-9a-f]{32}\.dcm", screening.dicom_file.name)
    assert len(media_files()) == 2

    # The stored image is a PNG of the decoded pixels (never the upload's bytes).
    with Image.open(media_root / screening.image.name) as stored:
        assert (stored.format, stored.mode) == ("PNG", "L")
        assert np.array_equal(np.asarray(stored), np.asarray(decode_image(data)))

    # The stored DICOM is the de-identified copy: read it back and check the tags.
    raw = (media_root / screening.dicom_file.name).read_bytes()
    assert raw != data
    for phi in FAKE_PHI:
        assert phi not in raw, phi
    ds = pydicom.dcmread(io.BytesIO(raw))
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "ReferringPhysicianName"):
        assert not str(ds.get(keyword, "") or ""), keyword
    for keyword in (
        "PatientAddress", "OtherPatientIDs", "InstitutionName", "InstitutionAddress",
        "PerformingPhysicianName", "OperatorsName", "StationName", "ImageComments",
        "DeviceSerialNumber", "StudyDescription",
    ):  # fmt: skip
        assert not str(ds.get(keyword, "") or ""), keyword
    assert not [elem for elem in ds if elem.tag.is_private]
    original = pydicom.dcmread(io.BytesIO(data))
    assert ds.StudyInstanceUID != original.StudyInstanceUID
    assert ds.SOPInstanceUID != original.SOPInstanceUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID  # replaced consistently
    assert np.array_equal(ds.pixel_array, original.pixel_array)  # pixels kept


def test_a_dicom_through_the_api_keeps_the_gate_quality_flags(
    api_client, regions, submission_data, upload, dicom_samples, north_client
):
    # A misleading name and type: still decided by the DICM preamble.
    response = post_api(
        api_client, submission_data(), upload(dicom_samples["pneumonia_j2k_lossless"], "x.png")
    )
    assert response.status_code == 201, response.content
    screening = Screening.objects.get(pk=response.json()["id"])
    assert screening.source_format == "dicom" and screening.dicom_file.name

    small = post_api(
        api_client,
        submission_data(national_id="CD654321"),
        upload(dicom_samples["covid_mono1_16bit"], "scan.dcm", "application/dicom"),
    )
    assert small.status_code == 201, small.content
    flagged = Screening.objects.get(pk=small.json()["id"])
    assert "low resolution" in flagged.quality_flags  # 256 x 210 pixels: accepted, flagged


@pytest.mark.parametrize("via", ["form", "api"])
def test_a_lateral_dicom_is_refused_with_a_request_for_a_frontal_view(
    via, client, api_client, regions, submission_data, upload, dicom_samples, media_files
):
    file = upload(dicom_samples["normal_lateral"], "lateral.dcm", "application/dicom")
    response = post_via(via, client, api_client, submission_data(), file)
    message = image_errors(via, response)
    assert response.status_code == 400
    assert "lateral" in message and "frontal" in message
    assert Screening.objects.count() == 0
    assert media_files() == []


def test_the_upload_widget_offers_dicom(client, regions):
    html = client.get(reverse("screening:submit")).content.decode()
    accept = re.search(r'accept="([^"]+)"', html).group(1)
    assert {".dcm", "application/dicom", "image/png", "image/jpeg"} <= set(accept.split(","))
    assert "DICOM" in html


# --- the chest X-ray gate ---------------------------------------------------------------------
def colour_photo() -> bytes:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:400]
    rgb = np.dstack([xx * 255 / 400, yy * 255 / 300, np.full(xx.shape, 90.0)])
    rgb = np.clip(rgb + rng.integers(-20, 20, rgb.shape), 0, 255).astype(np.uint8)
    return png(rgb, "JPEG")


def text_page() -> bytes:
    page = Image.new("L", (600, 800), 255)
    draw = ImageDraw.Draw(page)
    for i in range(30):
        draw.text((40, 30 + i * 24), f"Discharge summary, line {i}: lorem ipsum dolor", fill=0)
    return png(page)


@pytest.mark.parametrize(("name", "make"), [("photo.jpg", colour_photo), ("letter.png", text_page)])
@pytest.mark.parametrize("via", ["form", "api"])
def test_what_is_clearly_not_a_chest_xray_is_refused_at_once_with_a_friendly_reason(
    via, name, make, client, api_client, regions, submission_data, upload, media_files
):
    from inference.decode import decode_upload
    from inference.gate import MESSAGES, assess_decoded

    data = make()
    verdict = assess_decoded(decode_upload(data))  # the gate's own reason for these bytes
    assert not verdict.accepted and verdict.reason == MESSAGES[verdict.code]
    file = upload(data, name)
    response = post_via(via, client, api_client, submission_data(), file)
    message = image_errors(via, response)
    # The form's HTML escapes apostrophes; the API's JSON does not.
    expected = verdict.reason.replace("'", "&#x27;") if via == "form" else verdict.reason
    assert response.status_code == 400
    assert expected in message
    assert Screening.objects.count() == 0
    assert media_files() == []


def test_a_too_dark_radiograph_is_accepted_and_flagged_for_the_clinician(
    api_client, regions, submission_data, upload, north_client
):
    dark = png((radiograph_array() * 0.4).astype(np.uint8))
    response = post_api(api_client, submission_data(), upload(dark, "dark.png"))

    assert response.status_code == 201, response.content
    screening = Screening.objects.get(pk=response.json()["id"])
    assert "too dark" in screening.quality_flags
    assert screening.source_format == "png" and not screening.dicom_file

    detail = north_client.get(reverse("screening:detail", args=[screening.pk])).content.decode()
    assert "Image quality:" in detail and "too dark" in detail
    triage = north_client.get(reverse("screening:triage"), {"status": screening.status})
    row = triage.content.decode().split(f'data-reference="{screening.reference}"', 1)[1]
    assert "⚠ quality" in row.split("</tr>", 1)[0]


# --- hostile and broken files -----------------------------------------------------------------
def _check_refused(response, case, *, via: str) -> list[str]:
    problems = []
    if not 400 <= response.status_code < 500:
        return [f"{case.file}: {via} answered {response.status_code}"]
    if via == "api":
        body = response.json()
        text = " ".join(body.get("image", []))
        fields = set(body.get("errors", body)) - {"detail", "code"}  # screening.api.errors
        if fields != {"image"}:
            problems.append(f"{case.file}: api errors on {sorted(fields)}")
    else:
        html = response.content.decode()
        text = form_image_errors(response) if response.status_code == 400 else html
        if "Traceback" in html:
            problems.append(f"{case.file}: traceback in the page")
    if not text.strip() or case.message.replace("'", "&#x27;") not in text.lower():
        problems.append(f"{case.file}: {via} message {text[:160]!r} lacks {case.message!r}")
    return problems


@pytest.mark.parametrize("via", ["form", "api"])
def test_every_hostile_file_is_refused_plainly_and_leaves_nothing_behind(
    via, client, api_client, regions, submission_data, hostile_corpus, media_files, upload
):
    """scripts/make_hostile_corpus.py: each refused case through the form or the API."""
    rejects = [case for case in hostile_corpus if case.expect == "reject"]
    assert len(rejects) >= 25
    problems: list[str] = []
    for case in rejects:
        file = upload(case.path.read_bytes(), case.file, "application/octet-stream")
        response = post_via(via, client, api_client, submission_data(), file)
        problems += _check_refused(response, case, via=via)
        if Screening.objects.exists() or media_files():
            problems.append(f"{case.file}: left a row or a file behind")
            Screening.objects.all().delete()
    assert problems == []

    # The server keeps serving: a normal upload succeeds afterwards.
    ok = post_via(via, client, api_client, submission_data(), upload())
    assert ok.status_code in (201, 302)
    assert Screening.objects.count() == 1


def test_the_corpus_controls_are_accepted(api_client, regions, submission_data, hostile_corpus):
    from django.core.files.uploadedfile import SimpleUploadedFile

    controls = [case for case in hostile_corpus if case.expect == "accept"]
    assert {c.file for c in controls} >= {"control.png", "control.jpg", "control.dcm"}
    for n, case in enumerate(controls):
        file = SimpleUploadedFile(case.file, case.path.read_bytes(), "application/octet-stream")
        response = post_api(api_client, submission_data(national_id=f"OK{n:06d}"), file)
        assert response.status_code == 201, (case.file, response.content)


# --- the size limit ---------------------------------------------------------------------------
@pytest.mark.parametrize("via", ["form", "api"])
def test_a_21_mb_upload_is_refused_before_the_body_is_read(
    via, client, api_client, regions, submission_data, upload, media_files, monkeypatch
):
    def must_not_decode(*args, **kwargs):
        raise AssertionError("the oversized upload was decoded")

    monkeypatch.setattr("screening.services.submission.intake", must_not_decode)
    big = upload(b"\x89PNG\r\n\x1a\n" + bytes(21 * MB), "big.png")
    response = post_via(via, client, api_client, submission_data(), big)
    text = response.content.decode() if via == "form" else image_errors(via, response)
    assert response.status_code == 413
    assert "The file is too large. The maximum is 20 MB." in text
    assert Screening.objects.count() == 0
    assert media_files() == []


@pytest.mark.parametrize("via", ["form", "api"])
def test_a_file_just_over_the_limit_is_cut_off_while_it_streams_in(
    via, client, api_client, regions, submission_data, upload, media_files, monkeypatch
):
    """Under the Content-Length bound of the middleware, over MAX_UPLOAD_BYTES: the upload
    handler stops reading at the limit; nothing past it reaches the temporary file."""
    spooled = []
    original = TemporaryFileUploadHandler.receive_data_chunk

    def counting(self, raw_data, start):
        spooled.append(len(raw_data))
        return original(self, raw_data, start)

    monkeypatch.setattr(TemporaryFileUploadHandler, "receive_data_chunk", counting)
    size = 20 * MB + MB // 2
    big = upload(b"\x89PNG\r\n\x1a\n" + bytes(size - 8), "big.png")
    response = post_via(via, client, api_client, submission_data(), big)
    text = image_errors(via, response)

    assert response.status_code == 400
    assert "The file is too large. The maximum is 20 MB." in text
    assert sum(spooled) <= 20 * MB
    assert Screening.objects.count() == 0
    assert media_files() == []


def test_if_the_gate_itself_fails_the_image_is_accepted_and_flagged(
    api_client, regions, submission_data, upload, monkeypatch
):
    def broken(decoded):
        raise FloatingPointError("simulated gate bug")

    monkeypatch.setattr("inference.gate.assess_decoded", broken)
    response = post_api(api_client, submission_data(), upload())
    assert response.status_code == 201, response.content
    screening = Screening.objects.get()
    assert screening.quality_flags == ["not checked by the image gate"]


def test_decoder_notes_are_shown_to_the_clinician(north_client, screening_factory):
    note = "The DICOM header says the image has burned-in annotations."
    screening = screening_factory(intake_notes=[note], source_format="dicom")
    html = north_client.get(reverse("screening:detail", args=[screening.pk])).content.decode()
    assert note in html and "uploaded as DICOM" in html
