"""Merge the Simplified Chinese dictionaries into locale/zh_Hans/LC_MESSAGES/*.po.

Run after ``makemessages`` (README, "Languages"): ``python locale/tools/fill.py``. A msgid with
no entry keeps an empty msgstr, which tests/i18n/test_translations.py reports.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from zh_hans_python import ZH as ZH_PY  # noqa: E402
from zh_hans_templates import ZH as ZH_TEMPLATES  # noqa: E402

ZH = {**ZH_TEMPLATES, **ZH_PY}
PO_DIR = HERE.parent / "zh_Hans" / "LC_MESSAGES"


def fill(path: Path) -> list[str]:
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="zh_Hans")
    missing = []
    for message in catalog:
        if not message.id:
            continue
        text = ZH.get(message.id)
        if text is None:
            missing.append(str(message.id))
            continue
        message.string = (text,) if isinstance(message.id, tuple) else text
        message.flags.discard("fuzzy")
    catalog.fuzzy = False
    catalog.obsolete.clear()  # msgids no longer in the code
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False)
    return missing


if __name__ == "__main__":
    for po in sorted(PO_DIR.glob("*.po")):
        for msgid in fill(po):
            print(f"{po.name}: no translation for {msgid!r}")
