"""Every file of the generated hostile corpus ends in a plain ImageDecodeError (or, for the
controls, a grey image): no crash, no other exception type, no hang."""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from inference.decode import DecodedImage, ImageDecodeError, decode_upload
from scripts.make_hostile_corpus import LARGE_BYTES, build

CORPUS = Path(tempfile.mkdtemp(prefix="hostile-corpus-"))
atexit.register(shutil.rmtree, CORPUS, ignore_errors=True)
CASES = build(CORPUS, include_large=True)
REJECT = [c for c in CASES if c.expect == "reject"]
ACCEPT = [c for c in CASES if c.expect == "accept"]
# The portal's default MAX_UPLOAD_MB; the library itself has no byte limit of its own.
UPLOAD_LIMIT = 20 * 1024 * 1024
TECHNICAL = re.compile(r"Traceback|Errno|Exception|struct\.error|\b0x[0-9a-f]|pydicom|PIL|zlib")


@pytest.mark.parametrize("case", REJECT, ids=[c.file for c in REJECT])
def test_it_rejects_each_hostile_file_with_a_plain_message(case):
    data = (CORPUS / case.file).read_bytes()
    start = time.perf_counter()
    with pytest.raises(ImageDecodeError) as info:
        decode_upload(data, max_bytes=UPLOAD_LIMIT)
    assert time.perf_counter() - start < 3.0
    message = str(info.value)
    assert case.message in message.lower(), message
    assert 10 < len(message) < 400
    assert not TECHNICAL.search(message), message


@pytest.mark.parametrize("case", ACCEPT, ids=[c.file for c in ACCEPT])
def test_it_accepts_the_valid_controls(case):
    result = decode_upload((CORPUS / case.file).read_bytes())
    assert isinstance(result, DecodedImage) and result.image.mode == "L"


def test_the_corpus_covers_every_case_the_issue_lists():
    names = {c.file for c in CASES}
    required = {
        "empty.png", "text_named.png", "truncated.png", "truncated.jpg", "html_payload.png",
        "bomb.png", "over_pixel_limit.png", "animated.gif", "image.tiff", "document.pdf",
        "drawing.svg", "archive.zip", "dicom_no_pixel_data.dcm", "dicom_absurd_length.dcm",
        "oversize.png",
    }  # fmt: skip
    assert required <= names
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    assert {m["file"] for m in manifest} == names


def test_the_generated_files_are_small_except_the_sparse_oversize_one():
    sizes = {p.name: p.stat().st_size for p in CORPUS.iterdir()}
    assert sizes["oversize.png"] == LARGE_BYTES
    assert sizes["bomb.png"] < 10_000
    assert sizes["over_pixel_limit.png"] < 200_000
    assert sum(v for k, v in sizes.items() if k != "oversize.png") < 5_000_000
