"""Every string a patient or clinician reads has a translation in every language of the portal
(``settings.LANGUAGES`` but English: Simplified Chinese today).

The msgids are taken from the code itself (templates through Django's own ``templatize``, Python
and page scripts through Babel's extractors), not from the .po file, so a new ``{% translate %}``
or ``_()`` without a translation fails here even before anyone runs ``makemessages``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_javascript, extract_python
from babel.messages.pofile import read_po
from django.conf import settings
from django.utils.translation import override, to_locale
from django.utils.translation.template import templatize

REPO = Path(__file__).resolve().parents[2]
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != "en"]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "interpolate": None,
}
# What patients and clinicians see: every template, the modules that hold their wording.
# (templates/ops/, the administrators' dashboard, is translated too but not guarded here.)
TEMPLATES = sorted(
    [
        *(REPO / "templates").glob("*.html"),
        *(REPO / "templates" / "screening").glob("*.html"),
        *(REPO / "templates" / "registration").glob("*.html"),
    ]
)
PYTHON = [
    REPO / "screening" / name
    for name in ("rules.py", "forms.py", "forms_people.py", "presenters.py", "models.py")
] + [
    *sorted((REPO / "screening" / "templatetags").glob("*.py")),
    REPO / "screening" / "views_people.py",
    *sorted((REPO / "notifications").glob("*.py")),
]
SCRIPTS = sorted((REPO / "static" / "js").glob("*.js"))


def _msgids(extracted) -> set:
    ids = set()
    for _lineno, _func, message, _comments in extracted:
        if isinstance(message, tuple):
            message = tuple(m for m in message if m is not None)
            message = message[0] if len(message) == 1 else message
        if message:
            ids.add(message)
    return ids


def template_msgids(path: Path) -> set:
    # templatize() blanks out the markup and keeps gettext(u'...') calls (what makemessages
    # feeds to xgettext); Babel's JavaScript lexer reads those calls and ignores the rest.
    source = templatize(path.read_text(encoding="utf-8"), origin=str(path))
    return _msgids(extract_javascript(io.BytesIO(source.encode()), KEYWORDS, [], {}))


def python_msgids(path: Path) -> set:
    with path.open("rb") as handle:
        return _msgids(extract_python(handle, KEYWORDS, [], {}))


def script_msgids(path: Path) -> set:
    with path.open("rb") as handle:
        found = _msgids(extract_javascript(handle, {"gettext": None, "ngettext": (1, 2)}, [], {}))
    return found


def catalog(domain: str, language: str) -> dict:
    locale = to_locale(language)
    with (REPO / "locale" / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as handle:
        # A pgettext message is extracted as (context, msgid): keyed the same way here.
        return {
            (m.context, m.id) if m.context else m.id: m
            for m in read_po(handle, locale=locale)
            if m.id
        }


def _untranslated(ids: set, messages: dict) -> list:
    missing = []
    for msgid in sorted(ids, key=str):
        message = messages.get(msgid)
        strings = message.string if message is not None else None
        if isinstance(strings, tuple):
            strings = "".join(s or "" for s in strings)
        if message is None or not strings or message.fuzzy:
            missing.append(msgid)
    return missing


def test_the_code_has_strings_to_translate():
    # Guards the extraction itself: if it found nothing, the checks below would prove nothing.
    assert len(template_msgids(REPO / "templates" / "screening" / "submit.html")) > 20
    assert "Choose your region from the list." in python_msgids(REPO / "screening" / "rules.py")
    assert "Sending…" in script_msgids(REPO / "static" / "js" / "submit.js")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", TEMPLATES + PYTHON, ids=lambda p: str(p.relative_to(REPO)))
def test_every_string_of_a_page_or_message_has_a_translation(path, language):
    ids = template_msgids(path) if path.suffix == ".html" else python_msgids(path)
    missing = _untranslated(ids, catalog("django", language))
    assert not missing, (
        f"{len(missing)} string(s) of {path.name} lack a {language} translation (README, "
        f"'Languages'): {missing[:10]}"
    )


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_string_of_a_page_script_has_a_translation(path, language):
    missing = _untranslated(script_msgids(path), catalog("djangojs", language))
    assert not missing, f"{path.name}: {missing}"


PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w*[^{}]*\}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_every_placeholder_of_the_english_text(language):
    for domain in ("django", "djangojs"):
        for msgid, message in catalog(domain, language).items():
            source = msgid[0] if isinstance(msgid, tuple) else msgid
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for text in strings:
                if text:
                    assert sorted(PLACEHOLDER.findall(text)) == sorted(
                        PLACEHOLDER.findall(source)
                    ) or isinstance(msgid, tuple), (domain, msgid, text)


def test_the_compiled_catalogue_is_what_django_uses():
    # `make install` compiles locale/*.po with Babel; Django must find the result.
    from django.utils.translation import gettext

    with override("zh-hans"):
        assert gettext("Submit a chest X-ray") == "提交胸部X光片"
    with override("en"):
        assert gettext("Submit a chest X-ray") == "Submit a chest X-ray"


def test_a_list_of_quality_flags_is_joined_with_the_languages_own_separator():
    from django.template import Context, Template

    page = Template("{% load wording %}{{ flags|listing }}")
    flags = ["low contrast", "rotated"]
    with override("zh-hans"):
        assert page.render(Context({"flags": flags})) == "low contrast、rotated"
    with override("en"):
        assert page.render(Context({"flags": flags})) == "low contrast, rotated"
