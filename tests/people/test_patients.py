"""Patients (issue 12): field rules that say what is wrong and keep what was typed, the kept
upload, the submission limit, link recovery, notifications, the status page, duplicates and
the languages of pages and error messages."""

from __future__ import annotations

import datetime
import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

TOKEN = "a-patient-token-of-the-people-tests"


@pytest.fixture
def sms_outbox(settings):
    from notifications import sms

    settings.SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


def _post(client, data, **extra):
    return client.post(reverse("screening:submit"), data, **extra)


def _field_errors(response, field: str) -> str:
    html = response.content.decode()
    block = re.search(rf'id="id_{field}_error">(.*?)</div>', html, re.S)
    return block.group(1) if block else ""


# --- field rules ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("1980-04", "incomplete"),
        ("1980-", "incomplete"),
        ("75-04-23", "4 digits"),
        ("23/04/75", "4 digits"),
        ("1980-02-30", "does not exist"),
        ("31/04/1980", "does not exist"),
        ("yesterday", "YYYY-MM-DD"),
    ],
)
def test_a_bad_date_of_birth_says_what_is_wrong_and_keeps_what_was_typed(
    client, regions, submission_data, upload, typed, said
):
    from screening.models import Screening

    response = _post(client, {**submission_data(date_of_birth=typed), "image": upload()})
    assert response.status_code == 400
    assert said in _field_errors(response, "date_of_birth")
    assert f'value="{typed}"' in response.content.decode()
    assert Screening.objects.count() == 0


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("AB-123 456", "AB123456"),
        ("ab.123/456", "ab123456"),
    ],
)
def test_a_national_id_is_taken_with_the_separators_printed_on_the_card(
    client, regions, submission_data, upload, typed, stored
):
    from screening.models import Screening

    response = _post(client, {**submission_data(national_id=typed), "image": upload()})
    assert response.status_code == 302
    assert Screening.objects.get().national_id == stored


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0712 345678", "+254712345678"),
        ("0712-345-678", "+254712345678"),
        ("+44 20 7946 0018", "+442079460018"),
        ("00254712345678", "+254712345678"),
    ],
)
def test_a_local_phone_number_is_accepted_and_stored_in_e164(
    client, regions, submission_data, upload, typed, stored
):
    from screening.models import Screening

    response = _post(client, {**submission_data(phone=typed), "image": upload()})
    assert response.status_code == 302
    assert Screening.objects.get().phone == stored


def test_a_date_written_day_first_with_four_digits_is_accepted(
    client, regions, submission_data, upload
):
    from screening.models import Screening

    assert _post(client, {**submission_data(date_of_birth="23/04/1980"), "image": upload()})
    assert Screening.objects.get().date_of_birth == datetime.date(1980, 4, 23)


# --- the kept upload ------------------------------------------------------------------------
def test_a_refused_submission_keeps_the_chosen_image_for_the_next_try(
    client, regions, submission_data, upload, media_files
):
    from screening.models import Screening

    first = _post(client, {**submission_data(national_id="A1"), "image": upload(name="chest.png")})
    assert first.status_code == 400
    html = first.content.decode()
    assert "chest.png" in re.search(r'id="kept-image".*?</p>', html, re.S).group(0)
    key = re.search(r'name="kept_image" value="([^"]+)"', html).group(1)
    assert media_files() == []  # nothing among the screenings' files

    second = _post(client, {**submission_data(), "kept_image": key})  # no file this time
    assert second.status_code == 302
    assert Screening.objects.get().image_width == 320
    again = _post(client, {**submission_data(national_id="ZZ999999"), "kept_image": key})
    assert "Choose a chest X-ray image" in _field_errors(again, "image")  # used once only


def test_a_forged_or_expired_kept_image_key_is_ignored(
    client, regions, submission_data, upload, settings
):
    first = _post(client, {**submission_data(national_id="A1"), "image": upload()})
    key = re.search(r'name="kept_image" value="([^"]+)"', first.content.decode()).group(1)
    forged = _post(client, {**submission_data(), "kept_image": key[:-3] + "abc"})
    assert forged.status_code == 400 and "Choose a chest X-ray" in _field_errors(forged, "image")
    settings.KEPT_UPLOAD_MAX_AGE = -1
    expired = _post(client, {**submission_data(), "kept_image": key})
    assert expired.status_code == 400 and "Choose a chest X-ray" in _field_errors(expired, "image")


def test_an_image_refused_for_itself_is_not_kept(client, regions, submission_data, upload):
    response = _post(client, {**submission_data(), "image": upload(data=b"not an image")})
    assert response.status_code == 400
    assert 'name="kept_image"' not in response.content.decode()


# --- the submission limit ---------------------------------------------------------------------
def test_refused_submissions_do_not_count_and_over_the_limit_the_typed_data_is_kept(
    client, regions, submission_data, upload, settings
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "submission": "2/hour"}
    for _ in range(4):  # refused: not counted
        assert (
            _post(client, {**submission_data(national_id="A1"), "image": upload()}).status_code
            == 400
        )
    assert _post(client, {**submission_data(), "image": upload()}).status_code == 302
    assert _post(client, {**submission_data(), "image": upload()}).status_code == 302
    over = _post(client, {**submission_data(full_name="Grace Njeri"), "image": upload()})
    assert over.status_code == 429
    html = over.content.decode()
    assert 'id="too-many"' in html and 'value="Grace Njeri"' in html
    assert int(over["Retry-After"]) > 0


# --- link recovery --------------------------------------------------------------------------
@pytest.fixture
def patient_screening(screening_factory):
    from screening.models import access_token_hash

    return screening_factory(
        national_id="ZX9876543",
        date_of_birth=datetime.date(1961, 7, 4),
        phone="+254712345678",
        access_token_hash=access_token_hash(TOKEN),
    )


def _recover(client, **fields):
    return client.post(reverse("screening-people:recover"), fields)


def test_a_lost_link_is_recovered_with_reference_birth_date_and_national_id(
    client, patient_screening, sms_outbox
):
    from portal.audit.models import AuditEvent

    hit = _recover(
        client,
        reference=patient_screening.reference.lower(),
        date_of_birth="1961-07-04",
        national_id="zx-987-6543",
    )
    miss = _recover(
        client,
        reference=patient_screening.reference,
        date_of_birth="1961-07-05",
        national_id="ZX9876543",
    )
    assert hit.status_code == miss.status_code == 200
    strip = lambda r: re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", r.content.decode())  # noqa: E731
    assert strip(hit) == strip(miss)  # the same answer whether or not it matched
    assert len(sms_outbox) == 1 and sms_outbox[0].to == "+254712345678"
    new_link = re.search(r"http://testserver(/s/\S+/)", sms_outbox[0].body).group(1)
    assert client.get(new_link, follow=True).status_code == 200
    old = reverse("screening:status", args=[patient_screening.pk, TOKEN])
    assert client.get(old).status_code == 404
    events = AuditEvent.objects.filter(action="screening.link_recover").order_by("id")
    assert [e.detail.get("note") for e in events] == ["matched", "no match"]


def test_link_recovery_is_rate_limited_and_keeps_what_was_typed(
    client, patient_screening, settings, sms_outbox
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "recovery": "2/hour"}
    for _ in range(2):
        _recover(
            client, reference="CXR-AAAA-BBBB", date_of_birth="1961-07-04", national_id="X1X1X1"
        )
    over = _recover(
        client,
        reference=patient_screening.reference,
        date_of_birth="1961-07-04",
        national_id="ZX9876543",
    )
    assert over.status_code == 429
    assert f'value="{patient_screening.reference}"' in over.content.decode()
    assert sms_outbox == []  # not even a correct guess gets through over the limit


# --- notifications ------------------------------------------------------------------------
def _status_page(client, screening):
    return client.get(reverse("screening:status", args=[screening.pk, TOKEN]), follow=True)


def test_the_status_page_shows_its_own_link_with_a_copy_button(client, patient_screening):
    html = _status_page(client, patient_screening).content.decode()
    link = f"http://testserver/s/{patient_screening.pk}/{TOKEN}/"
    assert f'id="status-link" readonly value="{link}"' in html
    assert 'id="copy-link"' in html


def test_notifications_need_consent_then_send_the_link_and_later_the_decision(
    client, patient_screening, sms_outbox, clinician_north, django_capture_on_commit_callbacks
):
    from notifications.models import Notification
    from screening import services

    _status_page(client, patient_screening)
    url = reverse("screening-people:notify", args=[patient_screening.pk])
    refused = client.post(url, {"sms": "on", "email": "p@example.org"})
    assert refused.status_code == 400 and "tick the box" in refused.content.decode()
    assert sms_outbox == [] and mail.outbox == []

    done = client.post(
        url, {"sms": "on", "email": "p@example.org", "consent": "on"}, HTTP_ACCEPT_LANGUAGE="zh-CN"
    )
    assert done.status_code == 302
    assert len(sms_outbox) == 1 and TOKEN in sms_outbox[0].body
    assert "您的胸部X光筛查" in sms_outbox[0].body  # in the language the patient used
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["p@example.org"]

    with django_capture_on_commit_callbacks(execute=True):
        services.review_create(
            user=clinician_north, screening_id=patient_screening.pk, decision="covid_suspected"
        )
    assert "疑似新冠肺炎" in sms_outbox[-1].body and len(sms_outbox) == 2
    assert "疑似新冠肺炎" in mail.outbox[-1].body
    assert Notification.objects.filter(kind="decision", sent=True).count() == 2


def test_a_patient_who_did_not_ask_is_sent_nothing_and_a_failing_gateway_never_fails_a_review(
    patient_screening, sms_outbox, clinician_north, settings, django_capture_on_commit_callbacks
):
    from notifications.models import ContactConsent, Notification
    from screening import services

    with django_capture_on_commit_callbacks(execute=True):
        services.review_create(
            user=clinician_north, screening_id=patient_screening.pk, decision="no_finding"
        )
    assert sms_outbox == [] and not Notification.objects.exists()

    ContactConsent.objects.create(
        screening=patient_screening, sms=True, phone="+254712345678", consented_at=timezone.now()
    )
    settings.SMS_BACKEND = "tests.people.test_patients.BrokenSmsBackend"
    with django_capture_on_commit_callbacks(execute=True):
        review = services.review_create(
            user=clinician_north, screening_id=patient_screening.pk, decision="pneumonia_other"
        )
    assert review.pk and Notification.objects.get().sent is False


class BrokenSmsBackend:
    def send_messages(self, messages):
        raise ConnectionError("gateway down")


def test_the_file_sms_backend_writes_one_file_per_message(tmp_path, settings):
    from notifications.sms import sms_send

    settings.SMS_BACKEND = "notifications.sms.FileSmsBackend"
    settings.SMS_FILE_PATH = str(tmp_path)
    assert sms_send(to="+254712345678", body="hello")
    (written,) = tmp_path.iterdir()
    assert written.read_text() == "To: +254712345678\n\nhello\n"


# --- the status page ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("decision", "resubmit"),
    [("covid_suspected", False), ("unusable", True), ("no_finding", False)],
)
def test_the_status_page_styles_each_decision_and_drops_the_live_note_once_final(
    client, patient_screening, review_factory, clinician_north, decision, resubmit
):
    review_factory(screening=patient_screening, decision=decision, clinician=clinician_north)
    html = _status_page(client, patient_screening).content.decode()
    assert f'data-decision="{decision}"' in html
    button = re.search(r'<p class="([^"]*)" id="resubmit">', html).group(1)
    assert ("hidden" not in button) is resubmit
    assert re.search(r'<span id="live-note" class="hidden">', html)
    assert 'id="expected-wait"' not in html


def test_the_status_page_gives_the_expected_wait_and_the_zone_of_its_times(
    client, patient_screening, make_scored, clinician_north
):
    for _ in range(3):  # reviewed about two hours after submission
        earlier = make_scored(decision="no_finding", reviewer=clinician_north)
        type(earlier).objects.filter(pk=earlier.pk).update(
            submitted_at=timezone.now() - datetime.timedelta(hours=2)
        )
    html = _status_page(client, patient_screening).content.decode()
    assert "reviewed within about 2 hours" in html
    assert "(UTC)" in html and re.search(r'<time id="submitted-at" datetime="[^"]+\+00:00"', html)
    assert html.index('id="emergency-advice"') < html.index('id="status-card"')


def test_the_same_image_for_the_same_national_id_within_a_day_is_flagged(
    client, regions, submission_data, upload, north_client
):
    from screening.models import Screening

    for _ in range(2):
        assert _post(client, {**submission_data(), "image": upload()}).status_code == 302
    first, second = Screening.objects.order_by("submitted_at")
    page = client.get(reverse("screening:status", args=[second.pk, "x"]))
    assert page.status_code == 404  # (the token is needed, see below)
    from screening.models import access_token_hash

    Screening.objects.filter(pk=second.pk).update(access_token_hash=access_token_hash(TOKEN))
    html = client.get(
        reverse("screening:status", args=[second.pk, TOKEN]), follow=True
    ).content.decode()
    assert f"reference {first.reference}" in html
    detail = north_client.get(reverse("screening:detail", args=[second.pk])).content.decode()
    assert reverse("screening:detail", args=[first.pk]) in detail.split('id="duplicates"')[1]
    other = _post(client, {**submission_data(national_id="QQ111111"), "image": upload()})
    assert other.status_code == 302
    third = Screening.objects.get(national_id="QQ111111")
    assert (
        'id="duplicates"'
        not in north_client.get(reverse("screening:detail", args=[third.pk])).content.decode()
    )


# --- languages ----------------------------------------------------------------------------
def test_pages_and_error_messages_follow_accept_language(client, regions, submission_data):
    page = client.get(reverse("screening:submit"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    html = page.content.decode()
    assert '<html lang="zh-hans">' in html and "提交胸部X光片" in html
    refused = _post(client, submission_data(national_id=""), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert "请输入您的身份证号码。" in _field_errors(refused, "national_id")
    english = _post(client, submission_data(national_id=""), HTTP_ACCEPT_LANGUAGE="en-GB")
    assert "Enter your national ID number." in _field_errors(english, "national_id")


def test_the_api_answers_errors_in_the_language_asked_for(api_client, regions, submission_data):
    response = api_client.post(
        reverse("api:screening-create"),
        submission_data(national_id="A1"),
        HTTP_ACCEPT_LANGUAGE="zh-CN",
    )
    assert response.status_code == 400
    assert "身份证号码" in str(response.json())


def test_the_language_choice_is_remembered_in_a_cookie(client, regions):
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302
    assert '<html lang="zh-hans">' in client.get("/").content.decode()
    assert client.cookies["django_language"]["max-age"] == 365 * 24 * 3600


def test_a_trusted_network_gets_its_own_submission_limit(
    client, regions, submission_data, upload, settings
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "submission": "1/hour"}
    settings.RATE_LIMIT_NETWORKS = "10.20.0.0/16=submission:3/hour;10.20.9.9/32=status:1/hour"
    clinic = {"REMOTE_ADDR": "10.20.9.9"}  # the /32 names no submission rate: the /16 applies
    for _ in range(3):
        assert _post(client, {**submission_data(), "image": upload()}, **clinic).status_code == 302
    assert _post(client, {**submission_data(), "image": upload()}, **clinic).status_code == 429
    elsewhere = {"REMOTE_ADDR": "192.0.2.5"}
    assert _post(client, {**submission_data(), "image": upload()}, **elsewhere).status_code == 302
    assert _post(client, {**submission_data(), "image": upload()}, **elsewhere).status_code == 429
