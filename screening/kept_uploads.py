"""Keep a patient's chosen X-ray across a failed submit (issue 12), so it is not chosen twice.

When a submission is refused for another field, the uploaded file is written beside the uploads
(``KEPT_UPLOAD_ROOT``, by default ``<MEDIA_ROOT>-kept``: never URL-served, and apart from the
screenings' own files, so a refused submission leaves nothing among them) under a random name,
and the page gets a signed,
expiring key (``KEPT_UPLOAD_MAX_AGE`` seconds) in a hidden field; the next submit without a new
file uses it. The key names only that file and its original name; a forged, expired or reused
key is ignored and the patient is asked to choose the file again. Files are deleted once used,
and stale ones at the next keep.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile

KEPT_DIR = "kept"
SALT = "screening.kept-upload"


@dataclass(frozen=True)
class KeptUpload:
    key: str
    name: str


def _storage() -> FileSystemStorage:
    root = getattr(settings, "KEPT_UPLOAD_ROOT", "") or (
        os.path.normpath(str(settings.MEDIA_ROOT)) + "-kept"
    )
    return FileSystemStorage(location=root, file_permissions_mode=0o600)


def _max_age() -> int:
    return getattr(settings, "KEPT_UPLOAD_MAX_AGE", 1800)


def _sweep() -> None:
    """Remove kept files older than the key's lifetime (keys for them no longer verify)."""
    try:
        _dirs, files = _storage().listdir(KEPT_DIR)
    except (FileNotFoundError, NotADirectoryError):
        return
    cutoff = time.time() - _max_age() - 60
    for name in files:
        path = f"{KEPT_DIR}/{name}"
        with contextlib.suppress(OSError):
            if _storage().get_modified_time(path).timestamp() < cutoff:
                _storage().delete(path)


def upload_keep(*, upload: UploadedFile) -> KeptUpload:
    _sweep()
    upload.seek(0)
    stored = _storage().save(f"{KEPT_DIR}/{uuid.uuid4().hex}.bin", ContentFile(upload.read()))
    upload.seek(0)
    display = (upload.name or "image").rsplit("/", 1)[-1][:120]
    key = signing.dumps({"f": stored, "n": display}, salt=SALT, compress=True)
    return KeptUpload(key=key, name=display)


def upload_restore(*, key: str) -> tuple[UploadedFile, KeptUpload] | None:
    """The kept file as an upload, or ``None`` (bad, expired or already used key)."""
    try:
        data = signing.loads(key, salt=SALT, max_age=_max_age())
    except signing.BadSignature:  # includes SignatureExpired
        return None
    stored, display = data.get("f", ""), data.get("n", "image")
    if not stored.startswith(f"{KEPT_DIR}/") or ".." in stored or not _storage().exists(stored):
        return None
    with _storage().open(stored, "rb") as handle:
        content = handle.read()
    return SimpleUploadedFile(display, content), KeptUpload(key=key, name=display)


def upload_discard(*, key: str | None) -> None:
    if not key:
        return
    try:
        stored = signing.loads(key, salt=SALT).get("f", "")
    except signing.BadSignature:
        return
    if stored.startswith(f"{KEPT_DIR}/") and ".." not in stored:
        with contextlib.suppress(OSError):
            _storage().delete(stored)


# --- the two calls of the submit view -----------------------------------------------------------
def submit_files(request) -> tuple[dict, str | None]:
    """The request's files, with the kept image when the patient chose none this time."""
    files = request.FILES.copy()
    key = request.POST.get("kept_image") or None
    if key and "image" in files:  # a new file replaces the kept one
        upload_discard(key=key)
        key = None
    elif key:
        restored = upload_restore(key=key)
        if restored is not None:
            files["image"] = restored[0]
        else:
            key = None
    return files, key


def submit_context(*, form, files, key: str | None) -> dict:
    """After a refused submit: keep the image (unless the image itself was refused) and say so,
    or say plainly that it must be chosen again."""
    image = files.get("image")
    if image is None:
        return {}
    if "image" in form.errors:
        upload_discard(key=key)
        return {}
    if key:
        restored = upload_restore(key=key)
        if restored is not None:
            return {"kept_image": restored[1]}
    try:
        return {"kept_image": upload_keep(upload=image)}
    except OSError:
        return {"lost_image": True}
