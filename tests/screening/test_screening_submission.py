"""Patient submissions: one validation path for the HTML form and the API, nothing half-written."""

import datetime
import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.urls import reverse
from PIL import Image

from screening import services
from screening.models import Screening, ScreeningStatus
from screening.services import access_token_hash

API_URL = "/api/v1/screenings/"
REFERENCE_RE = re.compile(r"^CXR-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}$")


def submit_via_service(data: dict, image):
    fields = {k: v for k, v in data.items() if k != "consent"}
    fields["date_of_birth"] = datetime.date.fromisoformat(fields["date_of_birth"])
    return services.screening_submit(**fields, consent=True, image_file=image)


def test_a_valid_submission_stores_a_reencoded_png_under_a_random_name_and_a_hashed_token(
    regions, submission_data, upload, sample_bytes, media_root
):
    screening = submit_via_service(
        submission_data(), upload(sample_bytes["normal"], "my chest.jpg", "image/jpeg")
    )

    screening.refresh_from_db()
    assert REFERENCE_RE.match(screening.reference)
    assert screening.status == ScreeningStatus.RECEIVED  # queued after commit
    assert screening.region.code == "NORTH-01"
    assert screening.consent_at is not None
    assert re.fullmatch(r"radiographs/[0-9a-f]{32}\.png", screening.image.name)
    stored = (media_root / screening.image.name).read_bytes()
    assert stored != sample_bytes["normal"]
    with Image.open(io.BytesIO(stored)) as image:
        assert (image.format, image.mode) == ("PNG", "L")
        assert image.size == (screening.image_width, screening.image_height)
    assert screening.access_token_hash == access_token_hash(screening.access_token)
    assert screening.access_token not in screening.access_token_hash


def test_the_task_is_published_only_after_commit_and_the_screening_becomes_queued(
    regions, submission_data, upload, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(
        "screening.tasks.process_screening.delay",
        lambda screening_id: published.append(screening_id),
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        screening = submit_via_service(submission_data(), upload())
    assert published == []
    assert len(callbacks) == 1

    callbacks[0]()

    assert published == [str(screening.pk)]  # the message carries the id only
    screening.refresh_from_db()
    assert screening.status == ScreeningStatus.QUEUED
    assert screening.queued_at is not None


def test_a_broker_outage_leaves_the_screening_queued_for_requeue_stale(
    regions, submission_data, upload, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(screening_id):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("screening.tasks.process_screening.delay", broker_down)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        screening = submit_via_service(submission_data(), upload())
    # Run the commit hook ourselves: Django's robust on-commit runner would swallow an error
    # that escaped screening_enqueue, and the test could not tell.
    (hook,) = callbacks
    hook()

    screening.refresh_from_db()
    assert screening.status == ScreeningStatus.QUEUED
    assert screening.queued_at is not None
    assert services.screening_enqueue(screening=screening) is False


def test_phone_and_national_id_are_normalised(regions, submission_data, upload):
    screening = submit_via_service(
        submission_data(phone="+234 801-234 5678", national_id=" AB 123456 "), upload()
    )
    assert screening.phone == "+2348012345678"
    assert screening.national_id == "AB123456"


def test_the_national_id_rule_is_a_setting(regions, submission_data, upload, settings):
    settings.NATIONAL_ID_REGEX = r"^\d{11}$"
    with pytest.raises(ValidationError) as exc:
        submit_via_service(submission_data(national_id="AB123456"), upload())
    assert "national_id" in exc.value.message_dict
    assert submit_via_service(submission_data(national_id="12345678901"), upload()).pk


def test_if_the_row_cannot_be_written_the_stored_file_is_removed(
    regions, submission_data, upload, monkeypatch, media_files
):
    def broken_save(self, *args, **kwargs):
        raise IntegrityError("simulated database failure")

    monkeypatch.setattr(Screening, "save", broken_save)
    with pytest.raises(IntegrityError):
        submit_via_service(submission_data(), upload())
    assert Screening.objects.count() == 0
    assert media_files() == []


# --- bad input through the API and the form: clear messages, no row, no file --------------------
DECODE = object()
TEXT_AS_PNG = b"This is not an image, just text pretending to be one.\n" * 20


BAD_INPUTS = [
    pytest.param({"national_id": "12-34"}, None, "national_id", "national ID", id="malformed-id"),
    pytest.param({"national_id": "A1"}, None, "national_id", "national ID", id="short-id"),
    pytest.param(
        {"date_of_birth": "1980-02-30"}, None, "date_of_birth", "does not exist", id="bad-date"
    ),
    pytest.param(
        {"date_of_birth": "2999-01-01"}, None, "date_of_birth", "future", id="future-date"
    ),
    pytest.param({"phone": "12345"}, None, "phone", "mobile phone number", id="bad-phone"),
    pytest.param({"consent": None}, None, "consent", "tick the box", id="missing-consent"),
    pytest.param({"consent": "false"}, None, "consent", "tick the box", id="consent-false"),
    pytest.param({"sex": "Q"}, None, "sex", "F, M or X", id="bad-sex"),
    pytest.param({"region": "NORTH-09"}, None, "region", "region", id="inactive-region"),
    pytest.param(
        {"region": "WEST-01"}, None, "region", "region", id="district-of-inactive-province"
    ),
    pytest.param({"region": "NORTH"}, None, "region", "region", id="province-not-district"),
    pytest.param({"region": "NOWHERE"}, None, "region", "region", id="unknown-region"),
    pytest.param({"full_name": ""}, None, "full_name", "full name", id="missing-name"),
    # DECODE: the message is the model library's own (inference.decode) for these bytes.
    pytest.param({}, ("notes.png", TEXT_AS_PNG), "image", DECODE, id="text-named-png"),
    pytest.param({}, ("empty.png", b""), "image", "empty", id="empty-file"),
    pytest.param({}, "truncated", "image", DECODE, id="truncated-jpeg"),
    pytest.param({}, "missing", "image", "Choose a chest X-ray", id="no-file"),
]


def _expected_message(message, file) -> str:
    if message is not DECODE:
        return message
    from inference.decode import ImageDecodeError, decode_image

    file.seek(0)
    with pytest.raises(ImageDecodeError) as exc:
        decode_image(file.read())
    file.seek(0)
    assert str(exc.value)
    return str(exc.value)


def _image_for(spec, upload, sample_bytes):
    if spec is None:
        return upload()
    if spec == "missing":
        return None
    if spec == "truncated":
        return upload(sample_bytes["covid"][:4000], "cut.jpg", "image/jpeg")
    name, data = spec
    return upload(data, name)


@pytest.mark.parametrize(("overrides", "image", "field", "message"), BAD_INPUTS)
def test_the_api_rejects_bad_input_with_a_field_message_and_leaves_nothing_behind(
    api_client, regions, submission_data, upload, sample_bytes, media_files, overrides, image,
    field, message,
):  # fmt: skip
    payload = submission_data(**overrides)
    file = _image_for(image, upload, sample_bytes)
    if file is not None:
        payload["image"] = file
    message = _expected_message(message, file)

    response = api_client.post(API_URL, payload, format="multipart")

    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body, body
    assert message.lower() in " ".join(body[field]).lower()
    assert Screening.objects.count() == 0
    assert media_files() == []


@pytest.mark.parametrize(("overrides", "image", "field", "message"), BAD_INPUTS)
def test_the_form_rejects_bad_input_with_a_message_next_to_the_field_and_leaves_nothing_behind(
    client, regions, submission_data, upload, sample_bytes, media_files, overrides, image, field,
    message,
):  # fmt: skip
    payload = submission_data(**overrides)
    if payload.get("consent") == "true":
        payload["consent"] = "on"
    file = _image_for(image, upload, sample_bytes)
    if file is not None:
        payload["image"] = file
    message = _expected_message(message, file)

    response = client.post(reverse("screening:submit"), payload)

    assert response.status_code == 400
    html = response.content.decode()
    field_block = html.split(f'id="field-{field}"', 1)[1].split("</div>", 1)[0]
    assert message.lower() in field_block.lower(), field_block
    assert Screening.objects.count() == 0
    assert media_files() == []


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    api_client, regions, submission_data, upload, media_files, settings, monkeypatch
):
    settings.MAX_UPLOAD_MB = 1
    settings.MAX_UPLOAD_BYTES = 1024 * 1024

    def must_not_read(*args, **kwargs):
        raise AssertionError("the oversized upload was read")

    monkeypatch.setattr("screening.services.submission.intake", must_not_read)
    big = upload(b"\x89PNG\r\n\x1a\n" + b"\0" * (1024 * 1024 + 10), "big.png")
    response = api_client.post(API_URL, {**submission_data(), "image": big}, format="multipart")

    assert response.status_code == 400
    assert "too large" in " ".join(response.json()["image"])
    assert "maximum is 1 MB" in " ".join(response.json()["image"])
    assert Screening.objects.count() == 0
    assert media_files() == []


def test_a_request_body_far_over_the_limit_gets_413_before_the_body_is_parsed(
    api_client, client, regions, settings
):
    settings.MAX_UPLOAD_MB = 1
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    too_long = str(3 * 1024 * 1024)

    api = api_client.generic(
        "POST", API_URL, b"", content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=too_long,
    )  # fmt: skip
    page = client.generic(
        "POST", reverse("screening:submit"), b"", content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=too_long,
    )  # fmt: skip

    assert api.status_code == 413
    assert api.json() == {"image": ["The file is too large. The maximum is 1 MB."]}
    assert page.status_code == 413
    assert "The file is too large. The maximum is 1 MB." in page.content.decode()
    assert Screening.objects.count() == 0


def test_all_field_errors_are_reported_together(api_client, regions, submission_data, upload):
    payload = submission_data(national_id="!", phone="12", date_of_birth="soon", consent=None)
    response = api_client.post(API_URL, {**payload, "image": upload()}, format="multipart")
    assert response.status_code == 400
    assert {"national_id", "phone", "date_of_birth", "consent"} <= set(response.json())


def test_a_successful_api_submission_returns_the_reference_token_and_status_url(
    api_client, regions, submission_data, upload
):
    response = api_client.post(
        API_URL, {**submission_data(), "image": upload()}, format="multipart"
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "reference", "status", "access_token", "status_url"}
    screening = Screening.objects.get(pk=body["id"])
    assert body["reference"] == screening.reference
    assert body["status"] in ("received", "queued")
    assert screening.access_token_hash == access_token_hash(body["access_token"])
    assert body["status_url"] == (f"http://testserver/s/{screening.pk}/{body['access_token']}/")
    assert response["Cache-Control"] == "no-store"


def test_a_successful_form_submission_redirects_to_the_private_status_page(
    client, regions, submission_data, upload
):
    payload = {**submission_data(consent="on"), "image": upload()}
    response = client.post(reverse("screening:submit"), payload)

    assert response.status_code == 302
    screening = Screening.objects.get()
    prefix = f"/s/{screening.pk}/"
    assert response["Location"].startswith(prefix)
    token = response["Location"][len(prefix) :].strip("/")
    assert screening.access_token_hash == access_token_hash(token)
    page = client.get(response["Location"], follow=True)  # the token is traded for a cookie
    assert page.status_code == 200
    assert screening.reference in page.content.decode()


def test_the_upload_form_offers_active_districts_grouped_by_province(client, regions):
    html = client.get(reverse("screening:submit")).content.decode()
    assert '<optgroup label="Northern Province">' in html
    assert '<optgroup label="Southern Province">' in html
    for code in ("NORTH-01", "NORTH-02", "SOUTH-01", "SOUTH-02"):
        assert f'value="{code}"' in html
    for code in ("NORTH-09", "WEST-01", 'value="NORTH"'):
        assert code not in html


def test_public_submissions_are_rate_limited(api_client, regions, submission_data, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "submission": "2/hour"}
    codes = [
        api_client.post(API_URL, submission_data(), format="multipart").status_code
        for _ in range(3)
    ]
    assert codes == [400, 400, 429]
