"""Administrators: the region and clinician fixes of issue 12, and one-page clinician creation."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_clinician_is_added_on_one_page_and_sets_a_password_through_the_invitation(
    superuser_client, regions, client, django_user_model
):
    response = superuser_client.post(
        reverse("admin:screening_clinicianprofile_add"),
        {
            "first_name": "Achieng",
            "last_name": "Otieno",
            "email": "A.Otieno@example.org",
            "username": "",
            "regions": [regions["NORTH-01"].pk, regions["SOUTH"].pk],
        },
        follow=True,
    )
    assert response.status_code == 200
    user = django_user_model.objects.get(email="a.otieno@example.org")
    assert (user.username, user.get_full_name()) == ("a.otieno", "Achieng Otieno")
    assert not user.has_usable_password()
    assert sorted(r.code for r in user.clinician_profile.regions.all()) == ["NORTH-01", "SOUTH"]
    page = response.content.decode()
    link = re.search(r'id="invitation-link">([^<]+)<', page).group(1)
    assert link in mail.outbox[0].body and mail.outbox[0].to == ["a.otieno@example.org"]

    form = client.get(link, follow=True)  # Django swaps the token for a session-bound URL
    set_password_url = form.redirect_chain[-1][0]
    done = client.post(
        set_password_url,
        {"new_password1": "a-long-new-passphrase-42", "new_password2": "a-long-new-passphrase-42"},
    )
    assert done.status_code == 302
    assert client.login(username="a.otieno", password="a-long-new-passphrase-42")
    assert client.get(link, follow=True).context["validlink"] is False  # used once only


def test_adding_a_clinician_with_a_known_email_is_refused_with_a_message(
    superuser_client, clinician_north, regions
):
    clinician_north.email = "taken@example.org"
    clinician_north.save()
    response = superuser_client.post(
        reverse("admin:screening_clinicianprofile_add"),
        {"first_name": "A", "last_name": "B", "email": "TAKEN@example.org", "regions": []},
    )
    assert response.status_code == 200
    assert "exists already" in response.content.decode()


def test_a_lower_case_region_code_is_stored_in_capitals(superuser_client, regions):
    from screening.models import Region

    response = superuser_client.post(
        reverse("admin:screening_region_add"),
        {
            "code": "north-03",
            "name": "Lakeside District",
            "parent": regions["NORTH"].pk,
            "is_active": "on",
            "children-TOTAL_FORMS": "0",
            "children-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Region.objects.filter(code="NORTH-03", parent=regions["NORTH"]).exists()


def test_the_parent_picker_and_the_province_filter_offer_provinces_only(superuser_client, regions):
    autocomplete = superuser_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "screening",
            "model_name": "region",
            "field_name": "parent",
            "term": "",
        },
    ).json()
    offered = {r["text"] for r in autocomplete["results"]}
    assert any("Northern Province" in t for t in offered)
    assert not any("District" in t for t in offered)

    changelist = superuser_client.get(reverse("admin:screening_region_changelist")).content
    filter_html = changelist.decode().split('id="changelist-filter"')[1]
    assert "?province=NORTH" in filter_html and "province=NORTH-01" not in filter_html


def test_inactive_regions_are_marked_in_the_clinicians_region_picker_and_the_inline_has_no_number(
    superuser_client, clinician_north
):
    page = superuser_client.get(
        reverse("admin:auth_user_change", args=[clinician_north.pk])
    ).content.decode()
    assert "NORTH-09 – Closed District (inactive)" in page
    assert "NORTH-01 – Riverside District<" in page
    assert "#1" not in page and "Regions served" in page


def test_the_add_user_page_asks_for_the_name(superuser_client):
    page = superuser_client.get(reverse("admin:auth_user_add")).content.decode()
    assert 'name="first_name"' in page and 'name="last_name"' in page
